import type { IncomingHttpHeaders } from 'node:http';

/**
 * The parts of an HTTP request a browser sign-in reads (the passport strategies of SAML and
 * OIDC read no more): any server's request that has them will do, an Express one among them.
 */
export interface SignInHttpRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly originalUrl?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly query?: unknown;
  readonly body?: unknown;
}

/** What a strategy may write a redirect to: a Node `ServerResponse`, or a stand-in. */
export interface SignInHttpResponse {
  statusCode: number;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  end(chunk?: unknown): unknown;
}
