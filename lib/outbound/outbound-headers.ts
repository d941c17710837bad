import { IdentityError } from '../core/errors.js';
import { CREDENTIAL_HEADERS, type Upstream } from './upstreams.js';

/**
 * The headers of an upstream call: the caller's, minus anything that carries a credential or
 * routing (an agent's tool arguments can smuggle `Authorization`, `Cookie` or a session header
 * in), plus the upstream's static application headers, plus the user's credential.
 */
export function outboundHeaders(
  callerHeaders: ConstructorParameters<typeof Headers>[0],
  upstream: Upstream,
  token: string,
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
  for (const name of [
    ...CREDENTIAL_HEADERS,
    upstream.credentialHeader,
    ...Object.keys(upstream.headers),
  ]) {
    headers.delete(name);
  }
  for (const [name, value] of Object.entries(upstream.headers)) headers.set(name, value);
  if (typeof token !== 'string' || token.trim() === '') {
    // An empty credential would go out beside the app's API key: the app's own role, a
    // service credential by another name.
    throw new IdentityError(
      'credentials_missing',
      'No user credential is available for the data API call.',
      {
        details: { upstream: upstream.name },
      },
    );
  }
  if (/[\r\n\0]/.test(token)) {
    throw new IdentityError(
      'invalid_request',
      'The credential for the data API is not a valid header value.',
      {
        details: { upstream: upstream.name },
      },
    );
  }
  headers.set(
    upstream.credentialHeader,
    upstream.credentialHeader === 'authorization' ? `Bearer ${token}` : token,
  );
  return headers;
}
