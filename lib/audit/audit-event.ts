import { describeActor } from '../core/actor.js';
import { identityMemo, rememberForIdentity, type Identity } from '../core/identity.js';

/** Default `source` of audit events: the agent acting for the user. */
export const DEFAULT_AUDIT_SOURCE = 'ai-assistant';

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
  /** What was acted on, when it is not the request's `METHOD /path` (an MCP tool's name). */
  resource?: string | undefined;
  /** The agent acting for the user, when the token names none in `act` (an OAuth client id). */
  actor?: string | undefined;
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
  const who = input.identity === undefined ? undefined : identityFields(input.identity);
  // Frozen: the same event goes to the sink and to diagnostics subscribers, and neither may
  // change what the other sees.
  return Object.freeze({
    timestamp: isoTime(input.now()),
    user: who?.user ?? null,
    action: clean(input.action),
    resource: clean(input.resource ?? `${input.method} ${input.path}`),
    filters: input.filters === undefined ? null : sanitize(input.filters),
    records_returned: input.recordsReturned ?? null,
    source: clean(input.source),
    ip_address: input.ip === undefined ? null : clean(input.ip),
    outcome: input.outcome,
    reason: clean(input.reason),
    status: input.status,
    request_id: clean(input.requestId),
    provider: who?.provider ?? null,
    subject: who?.subject ?? null,
    issuer: who?.issuer ?? null,
    kind: who?.kind ?? null,
    roles: who?.roles ?? [],
    actor: who?.actor ?? (input.actor === undefined ? null : clean(input.actor)),
    token_fingerprint: who?.fingerprint ?? null,
    upstream: input.upstream === undefined ? null : clean(input.upstream),
    upstream_status: input.upstreamStatus ?? null,
    duration_ms: input.durationMs ?? null,
    details: Object.freeze(
      input.details === undefined ? {} : (sanitize(input.details) as Record<string, unknown>),
    ),
  });
}

// Events of one millisecond share their timestamp: formatting a date costs more than the rest of
// a small event's fields, and a busy server writes several events a millisecond.
let lastMs = Number.NaN;
let lastIso = '';

function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

type IdentityFields = Readonly<{
  user: string;
  provider: string;
  subject: string;
  issuer: string;
  kind: string;
  roles: readonly string[];
  actor: string | null;
  fingerprint: string | null;
}>;

// Identities are frozen and, behind the token cache, reused across requests: their cleaned
// fields are computed once per identity rather than once per event, and kept with it.

function identityFields(identity: Identity): IdentityFields {
  let fields = identityMemo(identity) as IdentityFields | undefined;
  if (fields === undefined) {
    const actor = describeActor(identity.actor);
    fields = Object.freeze({
      user: clean(identity.username),
      provider: clean(identity.provider),
      subject: clean(identity.subject),
      issuer: clean(identity.issuer),
      kind: identity.kind,
      roles: Object.freeze(identity.roles.slice(0, 100).map(clean)),
      actor: actor === undefined ? null : clean(actor),
      fingerprint:
        identity.credentialFingerprint === undefined ? null : clean(identity.credentialFingerprint),
    });
    rememberForIdentity(identity, fields);
  }
  return fields;
}

const MAX_STRING = 512;
const MAX_DEPTH = 6;
// C0 and C1 controls (a newline forges a log line; ESC repaints a terminal); the Trojan Source
// characters that make a log viewer show text other than what was logged: bidi embeddings,
// overrides, isolates and marks (U+202A-202E, U+2066-2069, U+200E/200F, U+061C), line and
// paragraph separators; and the invisible ones that make two names look alike or hide text from
// a reader but not from a model: zero-width characters, word joiner and invisible operators,
// soft hyphen, BOM, Hangul fillers, interlinear annotations, and the tag characters
// (U+E0000-E007F) that "ASCII smuggling" uses to hide instructions for agents.
const UNSAFE_CLASS =
  '[\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u115f\\u1160\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufeff\\uffa0\\ufff9-\\ufffb\\u{e0000}-\\u{e007f}]';
const UNSAFE = new RegExp(UNSAFE_CLASS, 'u');
const UNSAFE_ALL = new RegExp(UNSAFE_CLASS, 'gu');

// Escapes the characters above as `\uXXXX` (or `\u{XXXXX}`) and bounds length. Most strings are
// clean, and are returned as they are.
function clean(value: string): string {
  const escaped = escapeUnsafeText(value);
  return escaped.length > MAX_STRING ? `${escaped.slice(0, MAX_STRING)}…` : escaped;
}

/**
 * The characters above escaped as `\uXXXX`, nothing cut: for text that reaches a log or a
 * terminal (the command line's output) from a token, a directory or an upstream.
 * @internal
 */
export function escapeUnsafeText(value: string): string {
  return UNSAFE.test(value) ? value.replace(UNSAFE_ALL, escapeChar) : value;
}

function escapeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

// The same through any value: deep or cyclic values (a caller's filters object, say) are cut,
// so that JSON.stringify of the event can neither throw nor run away.
function sanitize(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return clean(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return `[${typeof value}]`;
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => sanitize(item, depth + 1));
  const result: Record<string, unknown> = {};
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (++count > 100) break;
    result[clean(key)] = sanitize((value as Record<string, unknown>)[key], depth + 1);
  }
  return result;
}
