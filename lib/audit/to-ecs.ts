import { isIP } from 'node:net';
import type { AuditEvent } from './audit-event.js';

/** The ECS version whose field definitions {@link toEcs} follows. */
export const ECS_VERSION = '8.11.0';

/** `event.dataset` of the package's audit events, and the name of their own ECS namespace. */
export const ECS_AUDIT_DATASET = 'identity_passthrough.audit';

/** An audit event under Elastic Common Schema names (absent fields are left out, never null). */
export interface EcsAuditEvent {
  readonly '@timestamp': string;
  readonly ecs: { readonly version: string };
  readonly event: {
    readonly kind: 'event';
    readonly category?: readonly ['authentication'];
    readonly type: readonly string[];
    readonly action: string;
    readonly outcome: 'success' | 'failure' | 'unknown';
    readonly reason: string;
    readonly dataset: string;
    /** In nanoseconds, as ECS counts durations. */
    readonly duration?: number;
  };
  readonly user?: {
    readonly name?: string;
    readonly id?: string;
    readonly roles: readonly string[];
  };
  readonly client?: { readonly address: string; readonly ip?: string };
  readonly source?: { readonly address: string; readonly ip?: string };
  readonly http: {
    readonly request: { readonly id: string; readonly method?: string };
    readonly response?: { readonly status_code: number };
  };
  readonly url?: { readonly path: string };
  readonly trace: { readonly id: string };
  readonly service: { readonly name: string; readonly target?: { readonly name: string } };
  readonly related?: { readonly user?: readonly string[]; readonly ip?: readonly string[] };
  /** What ECS has no field for, under the package's own namespace. */
  readonly identity_passthrough: Readonly<Record<string, unknown>>;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

const ECS_META = Object.freeze({ version: ECS_VERSION });
const AUTHENTICATION_CATEGORY = Object.freeze(['authentication'] as const);

// The authentication category's own types (start, end, info) say what the event was in the
// views that filter on `event.category: authentication`. A Map: an action is any string.
const AUTHENTICATION_TYPES = new Map([
  ['sign_in', 'start'],
  ['sign_out', 'end'],
  ['authenticate', 'info'],
]);

// `resource` is `METHOD /path` for a request, or a name (an MCP tool, SQL tables) otherwise.
const REQUEST_RESOURCE = /^([A-Z]{1,16}) (\/.*)$/s;

/**
 * The event under Elastic Common Schema (ECS) names, for Elastic, OpenSearch, Datadog and the
 * other pipelines that map ECS: `@timestamp`, `user.name`, `client.ip`, `event.action`,
 * `event.outcome`... Every field of the event has a place: what ECS has no field for (the
 * identity provider, the issuer, the agent acting for the user, the token fingerprint, filters,
 * the upstream's status, the decision's details) goes under `identity_passthrough.*`.
 *
 * Pure: nothing is logged. Fields that are null in the event are left out; the address is in
 * `client.ip` and `source.ip` only when it is an IP address (an index maps those as `ip` and
 * would reject the document otherwise), and always in `client.address` and `source.address`.
 * The request id is both `http.request.id` and `trace.id` (it is the W3C trace id when the
 * request carried a `traceparent`); `event.duration` is in nanoseconds.
 *
 * @example
 * ```ts
 * const sink = { log: (event: AuditEvent) => shipper.send(toEcs(event)) };
 * ```
 */
export function toEcs(event: AuditEvent): EcsAuditEvent {
  // Built field by field rather than with conditional spreads: this runs once per event, and
  // each spread of a temporary object costs as much as the rest of the mapping.
  const ecs = {
    '@timestamp': event.timestamp,
    ecs: ECS_META,
    event: eventOf(event),
  } as Writable<EcsAuditEvent>;
  if (event.user !== null || event.subject !== null) ecs.user = userOf(event);
  const address = event.ip_address;
  const ip = address !== null && isIP(address) !== 0 ? address : undefined;
  if (address !== null) {
    const peer = ip === undefined ? { address } : { address, ip };
    ecs.client = peer;
    ecs.source = peer;
  }
  const request = REQUEST_RESOURCE.exec(event.resource);
  const method = request?.[1];
  const http: Writable<EcsAuditEvent['http']> = {
    request: method === undefined ? { id: event.request_id } : { id: event.request_id, method },
  };
  if (event.status !== null) http.response = { status_code: event.status };
  ecs.http = http;
  const path = request?.[2];
  if (path !== undefined) ecs.url = { path };
  ecs.trace = { id: event.request_id };
  ecs.service =
    event.upstream === null
      ? { name: event.source }
      : { name: event.source, target: { name: event.upstream } };
  const related = relatedOf(event, ip);
  if (related !== undefined) ecs.related = related;
  ecs.identity_passthrough = ownFields(event);
  return ecs;
}

function eventOf(event: AuditEvent): EcsAuditEvent['event'] {
  const outcome = event.outcome as string;
  const type =
    outcome === 'allowed' || outcome === 'denied' || outcome === 'error' ? outcome : 'info';
  const authentication = AUTHENTICATION_TYPES.get(event.action);
  const common = {
    action: event.action,
    outcome: type === 'allowed' ? 'success' : type === 'info' ? 'unknown' : 'failure',
    reason: event.reason,
    dataset: ECS_AUDIT_DATASET,
  } as const;
  const fields: Writable<EcsAuditEvent['event']> =
    authentication === undefined
      ? { kind: 'event', type: [type], ...common }
      : {
          kind: 'event',
          category: AUTHENTICATION_CATEGORY,
          type: [authentication, type],
          ...common,
        };
  if (event.duration_ms !== null) fields.duration = Math.round(event.duration_ms * 1e6);
  return fields;
}

function userOf(event: AuditEvent): NonNullable<EcsAuditEvent['user']> {
  const { user: name, subject: id, roles } = event;
  if (name === null) return id === null ? { roles } : { id, roles };
  return id === null ? { name, roles } : { name, id, roles };
}

// ECS's pivot fields: every user name or id, and every IP, seen in the event.
function relatedOf(event: AuditEvent, ip: string | undefined): EcsAuditEvent['related'] {
  const users: string[] = [];
  if (event.user !== null) users.push(event.user);
  if (event.subject !== null) users.push(event.subject);
  if (users.length === 0) return ip === undefined ? undefined : { ip: [ip] };
  return ip === undefined ? { user: users } : { user: users, ip: [ip] };
}

function ownFields(event: AuditEvent): Record<string, unknown> {
  const own: Record<string, unknown> = { resource: event.resource };
  if (event.provider !== null) own['provider'] = event.provider;
  if (event.issuer !== null) own['issuer'] = event.issuer;
  if (event.kind !== null) own['kind'] = event.kind;
  if (event.actor !== null) own['actor'] = event.actor;
  if (event.token_fingerprint !== null) own['token_fingerprint'] = event.token_fingerprint;
  if (event.filters !== null && event.filters !== undefined) own['filters'] = event.filters;
  if (event.records_returned !== null) own['records_returned'] = event.records_returned;
  if (event.upstream_status !== null) own['upstream_status'] = event.upstream_status;
  if (hasKeys(event.details)) own['details'] = event.details;
  return own;
}

function hasKeys(value: object): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return true;
  return false;
}
