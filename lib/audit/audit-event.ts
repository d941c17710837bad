import { describeActor } from '../core/actor.js';
import type { Identity } from '../core/identity.js';

/** How a decision or a forwarded call ended. */
export type AuditOutcome = 'allowed' | 'denied' | 'error';

/**
 * One user-attributed audit record. The first eight fields keep the shape data gateways
 * already log; the rest say why, through which agent, and for which credential (never the
 * credential itself).
 */
export interface AuditEvent {
  readonly timestamp: string;
  /** The username of the person, or null when nobody could be identified. */
  readonly user: string | null;
  /** `authenticate`, `authorize`, and later `forward`. */
  readonly action: string;
  /** What was acted on: `METHOD /path` (the query string is left out: it can hold secrets). */
  readonly resource: string;
  readonly filters: unknown;
  readonly records_returned: number | null;
  /** The agent or application acting for the user, e.g. `ai-assistant`. */
  readonly source: string;
  readonly ip_address: string | null;
  readonly outcome: AuditOutcome;
  /** `ok`, or the stable error code of the refusal. */
  readonly reason: string;
  /** The HTTP status of a refusal; null for an allow. */
  readonly status: number | null;
  readonly request_id: string;
  readonly provider: string | null;
  readonly subject: string | null;
  readonly issuer: string | null;
  readonly kind: string | null;
  readonly roles: readonly string[];
  /** The RFC 8693 actor chain of a delegated token (`agent-a via agent-b`). */
  readonly actor: string | null;
  readonly token_fingerprint: string | null;
  /** For forwarded calls: the upstream's name, its HTTP status and the call's duration. */
  readonly upstream: string | null;
  readonly upstream_status: number | null;
  readonly duration_ms: number | null;
  /** Facts about the decision: the service-account rule, the roles required, the claim. */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditEventInput {
  action: string;
  outcome: AuditOutcome;
  reason: string;
  status: number | null;
  method: string;
  path: string;
  requestId: string;
  ip: string | undefined;
  source: string;
  identity: Identity | undefined;
  details?: Readonly<Record<string, unknown>>;
  filters?: unknown;
  recordsReturned?: number | null;
  upstream?: string;
  upstreamStatus?: number;
  durationMs?: number;
  now: () => number;
}

/** Builds an event; every user-controlled string in it is made safe for log files. */
export function buildAuditEvent(input: AuditEventInput): AuditEvent {
  const { identity } = input;
  return sanitize({
    timestamp: new Date(input.now()).toISOString(),
    user: identity?.username ?? null,
    action: input.action,
    resource: `${input.method} ${input.path}`,
    filters: input.filters ?? null,
    records_returned: input.recordsReturned ?? null,
    source: input.source,
    ip_address: input.ip ?? null,
    outcome: input.outcome,
    reason: input.reason,
    status: input.status,
    request_id: input.requestId,
    provider: identity?.provider ?? null,
    subject: identity?.subject ?? null,
    issuer: identity?.issuer ?? null,
    kind: identity?.kind ?? null,
    roles: identity?.roles ?? [],
    actor: describeActor(identity?.actor) ?? null,
    token_fingerprint: identity?.credentialFingerprint ?? null,
    upstream: input.upstream ?? null,
    upstream_status: input.upstreamStatus ?? null,
    duration_ms: input.durationMs ?? null,
    details: input.details ?? {},
  }) as AuditEvent;
}

const MAX_STRING = 512;
const MAX_DEPTH = 6;

// Escapes control characters (newlines forge log lines; ESC sequences repaint terminals) and
// bounds string length, through the whole value.
function sanitize(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    const escaped = value.replace(
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
      (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    return escaped.length > MAX_STRING ? `${escaped.slice(0, MAX_STRING)}…` : escaped;
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return `[${typeof value}]`;
  if (typeof value !== 'object' || value === null) return value;
  // Deep or cyclic values (a caller's filters object, say) are cut, so that JSON.stringify of
  // the event can neither throw nor run away.
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => sanitize(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 100)
      .map(([key, item]) => [sanitize(key, depth + 1), sanitize(item, depth + 1)]),
  );
}
