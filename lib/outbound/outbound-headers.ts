import { IdentityError } from '../core/errors.js';
import type { Upstream } from './upstream.js';

/**
 * Headers never taken from the caller. An agent's tool arguments are attacker-reachable text (a
 * prompt injection can put headers there), so anything an upstream or a proxy in front of it
 * may trust is dropped:
 * - credentials, whatever their name: the user's is added by the passthrough, the app's are
 *   static upstream headers, and a caller-chosen one would replace the user's role;
 * - identity that proxies assert for the user they authenticated (Azure App Service, AWS ALB,
 *   Google IAP, oauth2-proxy), which an upstream behind them believes;
 * - routing and client address (`Host`, `Forwarded`, `X-Forwarded-*`, `X-Real-IP`...), which
 *   gateways use for allow-lists, rate limits and URL rewriting;
 * - method overrides, which would make the audited method a lie;
 * - the request id and trace context, which the passthrough sets so a gateway's logs join ours.
 */
const DROPPED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'cookie2',
  'api-key',
  'apikey',
  'x-api-key',
  'x-apikey',
  'x-auth-token',
  'x-access-token',
  'x-session-token',
  'x-csrf-token',
  'x-xsrf-token',
  'x-dreamfactory-api-key',
  'x-dreamfactory-session-token',
  'x-amz-security-token',
  'x-goog-api-key',
  'ocp-apim-subscription-key',
  'remote-user',
  'x-remote-user',
  'x-authenticated-user',
  'x-webauth-user',
  'host',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-request-id',
  'request-id',
  'traceparent',
  'tracestate',
]);
const DROPPED_PREFIXES = [
  'x-forwarded-',
  'x-ms-client-principal',
  'x-amzn-oidc-',
  'x-goog-authenticated-user-',
  'x-auth-request-',
];

const HEADER_SAFE_ID = /^[\x21-\x7e]{1,256}$/;

/** What identifies the call in a gateway's logs. */
export interface CallIds {
  readonly requestId: string;
  readonly traceparent: string;
}

/**
 * The headers of an upstream call: the caller's, minus the {@link DROPPED} ones, plus the
 * upstream's static application headers, the user's credential, and the request id and
 * `traceparent` of the call.
 */
export function outboundHeaders(
  callerHeaders: ConstructorParameters<typeof Headers>[0],
  upstream: Upstream,
  token: string,
  ids: CallIds,
): Headers {
  let headers: Headers;
  try {
    headers = new Headers(callerHeaders);
  } catch (cause) {
    throw new IdentityError(
      'invalid_request',
      'A header of the data API call is invalid (header values may not contain CR, LF or NUL).',
      { cause, details: { upstream: upstream.name } },
    );
  }
  // Names are lower case here; collected first, as deleting while iterating skips entries.
  let doomed: string[] | undefined;
  for (const name of headers.keys()) {
    if (dropped(name, upstream)) (doomed ??= []).push(name);
  }
  if (doomed !== undefined) for (const name of doomed) headers.delete(name);
  for (const [name, value] of Object.entries(upstream.headers)) headers.set(name, value);
  if (typeof token !== 'string' || token.trim() === '') {
    // An empty credential would go out beside the app's API key: the app's own role, a
    // service credential by another name.
    throw new IdentityError(
      'credentials_missing',
      'No user credential is available for the data API call.',
      { details: { upstream: upstream.name } },
    );
  }
  if (/[\r\n\0]/.test(token)) {
    throw new IdentityError(
      'invalid_request',
      'The credential for the data API is not a valid header value.',
      { details: { upstream: upstream.name } },
    );
  }
  headers.set(
    upstream.credentialHeader,
    upstream.credentialHeader === 'authorization' ? `Bearer ${token}` : token,
  );
  // A request id from a custom generator is sent only when it is a plain header value.
  if (HEADER_SAFE_ID.test(ids.requestId)) headers.set('x-request-id', ids.requestId);
  headers.set('traceparent', ids.traceparent);
  return headers;
}

function dropped(name: string, upstream: Upstream): boolean {
  if (DROPPED.has(name) || name === upstream.credentialHeader) return true;
  if (Object.hasOwn(upstream.headers, name)) return true;
  if (name.charCodeAt(0) !== 0x78 /* x */) return false;
  for (const prefix of DROPPED_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}
