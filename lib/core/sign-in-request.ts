import type { IncomingHttpHeaders } from 'node:http';

/**
 * A browser's request to a sign-in route as plain values, so that a sign-in provider can finish
 * its protocol under Express, a plain `node:http` server or an MCP server alike.
 *
 * @example
 * ```ts
 * const request: SignInRequest = {
 *   method: req.method ?? 'GET',
 *   url: req.url ?? '/',
 *   headers: req.headers,
 *   query: Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams),
 * };
 * ```
 */
export interface SignInRequest {
  readonly method: string;
  /** The request target (path and query), as received. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed query string. */
  readonly query: Readonly<Record<string, unknown>>;
  /** A parsed `application/x-www-form-urlencoded` body, when the route takes one (SAML's ACS). */
  readonly body?: Readonly<Record<string, unknown>> | undefined;
}
