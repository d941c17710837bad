import type { CustomFetch } from 'openid-client';

/**
 * The `fetch` openid-client uses for every request to the IdP (discovery, token, JWKS), bounded
 * by `timeoutMs` to the millisecond. openid-client's own `timeout` is in whole seconds, so
 * `timeoutMs: 300` would otherwise wait a full second for an IdP that hangs. The bound covers
 * reading the body too: an IdP that sends headers and then stalls is cut off all the same.
 */
export function fetchWithTimeout(timeoutMs: number): CustomFetch {
  return (url, options) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    // openid-client may pass a signal of its own (its seconds-based timeout); either ends it.
    const signal =
      options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
    return fetch(url, { ...options, signal });
  };
}
