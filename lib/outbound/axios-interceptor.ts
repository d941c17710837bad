import type { Passthrough } from './passthrough.js';

/** The part of an axios request config this interceptor sets. */
interface AxiosConfigLike {
  adapter?: unknown;
  env?: Record<string, unknown> | undefined;
  maxRedirects?: number | undefined;
}

/**
 * An axios request interceptor that sends the request through the passthrough client: axios's
 * fetch adapter is pointed at `passthrough.fetch`, so allow-list, credential, header hygiene,
 * redirect checks, limits and audit are the very same as for `fetch` callers.
 *
 * @example
 * ```ts
 * const api = axios.create({ baseURL: 'https://df.example.com' });
 * api.interceptors.request.use(axiosPassthrough(passthrough));
 * ```
 */
export function axiosPassthrough(passthrough: Pick<Passthrough, 'fetch'>) {
  return <Config extends AxiosConfigLike>(config: Config): Config => ({
    ...config,
    adapter: 'fetch',
    // Redirects are followed (and re-checked) by the passthrough client, never by axios.
    maxRedirects: 0,
    env: { ...config.env, fetch: passthrough.fetch },
  });
}
