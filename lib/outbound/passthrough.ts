import type { z } from 'zod';
import type { Identity } from '../core/identity.js';
import { auditOptionsShape, auditTrailFrom } from '../audit/audit-options.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { getCurrentIdentity } from '../core/request-context.js';
import { forwardCall, type ForwardContext, type PassthroughInit } from './forward-call.js';
import type { Upstream } from './upstream.js';
import { undiciTransport } from './undici-transport.js';
import { fetchTransport } from './upstream-transport.js';

export type { PassthroughInit } from './forward-call.js';
import { compileUpstream, upstreamSchema } from './upstream-options.js';

const passthroughSchema = lazySchema((z) =>
  z.strictObject({
    /** The data APIs the AI may call on the user's behalf, by name. Nothing else is reachable. */
    upstreams: z.record(z.string().min(1), upstreamSchema()),
    ...auditOptionsShape,
    /** The agent recorded as `source`. Default: the request's (authenticate's `source`). */
    source: z.string().min(1).max(100).optional(),
    fetch: functionOption<typeof globalThis.fetch>().optional(),
    now: functionOption<() => number>().optional(),
  }),
);

/** Options of {@link createPassthrough}: the allow-listed upstreams, the audit sink, limits. */
export type PassthroughOptions = z.input<ReturnType<typeof passthroughSchema>>;

/** A `fetch` that acts as one user, towards the configured upstreams only. */
export type PassthroughFetch = (
  input: string | URL | Request,
  init?: PassthroughInit,
) => Promise<Response>;

/**
 * Calls to data APIs as the current user: only to allow-listed upstreams, each with the
 * credential its strategy gives, every call audited.
 */
export interface Passthrough {
  /** Calls an upstream as the user of the request being served (from the request scope). */
  readonly fetch: PassthroughFetch;
  /** A fetch bound to one identity, e.g. `passthrough.forIdentity(req.identity)`. */
  forIdentity(identity: Identity | undefined): PassthroughFetch;
  readonly upstreams: readonly Upstream[];
}

/**
 * The passthrough client: the AI's data calls carry the signed-in user's credential, so the data
 * layer's row-level security applies to that person. Only configured upstreams are reachable
 * (checked before a byte is sent, and again on every redirect); caller-supplied credential,
 * identity and routing headers are dropped, and a URL that carries a credential is refused; no
 * identity, a service identity or an expired token means no call. Each call carries the
 * request's `X-Request-Id` and a W3C `traceparent`, so a gateway's logs join the audit trail.
 * A response body that is cut (too large, or still arriving at `timeoutMs`) fails its reader
 * with the package's error, and its audit event says so.
 *
 * @example
 * ```ts
 * const passthrough = createPassthrough({
 *   upstreams: { dreamfactory: { origin: 'https://df.example.com', audience: 'dreamfactory-api',
 *     credentialHeader: 'X-DreamFactory-Session-Token', headers: { 'X-DreamFactory-API-Key': key } } },
 * });
 * const res = await passthrough.fetch('https://df.example.com/api/v2/db/_table/orders');
 * ```
 */
export function createPassthrough(options: PassthroughOptions): Passthrough {
  const parsed = parseOptions(passthroughSchema(), options, 'createPassthrough');
  const upstreams = Object.entries(parsed.upstreams).map(([name, value]) =>
    compileUpstream(name, value),
  );
  if (upstreams.length === 0) {
    throw new TypeError('createPassthrough: option "upstreams" must name at least one upstream');
  }
  const byOrigin = new Map<string, Upstream>();
  for (const upstream of upstreams) {
    if (byOrigin.has(upstream.origin)) {
      throw new TypeError(
        `createPassthrough: option "upstreams": ${upstream.origin} is listed twice`,
      );
    }
    byOrigin.set(upstream.origin, upstream);
  }
  const context: ForwardContext = Object.freeze({
    byOrigin,
    trail: auditTrailFrom(parsed),
    transport: parsed.fetch === undefined ? undiciTransport() : fetchTransport(parsed.fetch),
    now: parsed.now ?? Date.now,
    source: parsed.source,
  });
  const forIdentity =
    (identity: Identity | undefined): PassthroughFetch =>
    (input, init) =>
      forwardCall(context, identity, input, init);
  return Object.freeze({
    fetch: (input: string | URL | Request, init?: PassthroughInit) =>
      forwardCall(context, getCurrentIdentity(), input, init),
    forIdentity,
    upstreams: Object.freeze(upstreams),
  });
}
