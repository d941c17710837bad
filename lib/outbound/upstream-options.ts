import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { secureUrl } from '../core/secure-url.js';
import type { CredentialStrategy, Upstream } from './upstream.js';

/** Default: 10000 (10 seconds) for an upstream call, redirects included. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
/** Default: 10 MiB. A larger response body is cut off with `upstream_response_too_large`. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Default: 3 redirects, each one re-checked against the allow-list. */
export const DEFAULT_MAX_REDIRECTS = 3;

// Set for each call so that the upstream's logs join ours; a static value would hide that.
const PER_CALL_HEADERS = new Set(['x-request-id', 'traceparent', 'tracestate']);

/** One data API the AI may call on the user's behalf. */
export const upstreamSchema = lazySchema((z) => {
  // RFC 9110 §5.1 token characters; header values may not contain CR, LF or NUL (§5.5).
  const headerName = z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'is not a valid header name');
  const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'must not contain CR, LF or NUL');
  return z.strictObject({
    /** `https://host[:port]`, exactly; http:// only on 127.0.0.1 and localhost. */
    origin: secureUrl().refine((value) => new URL(value).origin === value.replace(/\/$/, ''), {
      message: 'must be an origin only (scheme, host and port), without a path',
    }),
    /** The audience tokens for this upstream carry (`aud`); the user's token must name it. */
    audience: z.string().min(1),
    /**
     * The header that carries the user's credential. Default: `Authorization` (as
     * `Bearer <token>`); DreamFactory takes the raw token in `X-DreamFactory-Session-Token`.
     */
    credentialHeader: headerName.optional(),
    /**
     * Static headers that name the application, never a user (DreamFactory's
     * `X-DreamFactory-API-Key`). They cannot replace the credential header.
     */
    headers: z.record(headerName, headerValue).optional(),
    /** How the credential is obtained. Default: `forward` (the user's own token). */
    strategy: objectWithMethods<CredentialStrategy>(
      ['credentialFor'],
      'must be a credential strategy: { name, credentialFor(identity, upstream) }',
      ['name'],
    ).optional(),
    timeoutMs: z.number().int().min(100).max(300_000).optional(),
    maxResponseBytes: z.number().int().min(1_024).optional(),
    maxRedirects: z.number().int().min(0).max(10).optional(),
    /**
     * Default: false. Forwards the user's token even when its `aud` does not name this upstream.
     * **Warning:** the upstream then receives a credential minted for someone else, which it can
     * replay against that party (the confused deputy that MCP's rules forbid).
     */
    dangerouslySkipAudienceCheck: z.boolean().optional(),
  });
});

/** One allow-listed upstream: its origin, its audience, its credential strategy, its limits. */
export type UpstreamOptions = z.input<ReturnType<typeof upstreamSchema>>;

/** An upstream as the passthrough client uses it, with defaults applied. */

export function compileUpstream(
  name: string,
  parsed: z.output<ReturnType<typeof upstreamSchema>>,
): Upstream {
  const headers = Object.fromEntries(
    Object.entries(parsed.headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]),
  );
  const credentialHeader = (parsed.credentialHeader ?? 'authorization').toLowerCase();
  const clash = Object.keys(headers).find(
    (key) => key === credentialHeader || ['authorization', 'cookie', 'host'].includes(key),
  );
  if (clash !== undefined) {
    throw new TypeError(
      `option "upstreams.${name}.headers": "${clash}" carries the user's credential and cannot be a static header`,
    );
  }
  const perCall = Object.keys(headers).find((key) => PER_CALL_HEADERS.has(key));
  if (perCall !== undefined) {
    throw new TypeError(
      `option "upstreams.${name}.headers": "${perCall}" is set by the passthrough for each call (the request id and trace) and cannot be a static header`,
    );
  }
  const upstream: Upstream = Object.freeze({
    name,
    origin: new URL(parsed.origin).origin,
    audience: parsed.audience,
    credentialHeader,
    headers: Object.freeze(headers),
    strategy: parsed.strategy,
    timeoutMs: parsed.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    maxResponseBytes: parsed.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    maxRedirects: parsed.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
    dangerouslySkipAudienceCheck: parsed.dangerouslySkipAudienceCheck ?? false,
  });
  parsed.strategy?.check?.(upstream);
  return upstream;
}
