import type { IncomingHttpHeaders } from 'node:http';

/** The parts of a Node request (`http.IncomingMessage`, or a framework's request built on it). */
export interface NodeRequestParts {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

/** A request's credential-bearing parts as plain values, as the bearer authenticator takes them. */
export interface CredentialParts {
  readonly headers: IncomingHttpHeaders;
  /** Every `Authorization` header value, in order (duplicates included). */
  readonly authorization: readonly string[];
  /** The request target (path and query). */
  readonly url: string;
  readonly method: string;
  /** A parsed `application/x-www-form-urlencoded` body, the only kind RFC 6750 §2.2 reads. */
  readonly body?: unknown;
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

/**
 * The credential-bearing parts of a Node request, for `createBearerAuthenticator().authenticate`.
 * Authorization headers are read from `rawHeaders`: Node keeps only the first of duplicated
 * Authorization headers in `headers`, which would hide a second credential.
 *
 * @example
 * ```ts
 * const identity = await authenticator.authenticate(credentialParts(req));
 * ```
 */
export function credentialParts(
  req: NodeRequestParts,
  overrides: { readonly url?: string; readonly formBody?: unknown } = {},
): CredentialParts {
  const parts: unknown = req;
  if (
    typeof parts !== 'object' ||
    parts === null ||
    typeof (parts as NodeRequestParts).headers !== 'object' ||
    !Array.isArray((parts as NodeRequestParts).rawHeaders)
  ) {
    throw new TypeError(
      'credentialParts: "req" must be a Node request (an http.IncomingMessage, with headers and rawHeaders)',
    );
  }
  return {
    authorization: authorizationHeaders(req),
    url: overrides.url ?? req.url ?? '/',
    headers: req.headers,
    method: req.method ?? 'GET',
    ...(overrides.formBody === undefined ? {} : { body: overrides.formBody }),
  };
}

function authorizationHeaders(req: NodeRequestParts): readonly string[] {
  // Node joins no Authorization headers: when it saw none, rawHeaders holds none either.
  if (req.headers.authorization === undefined) return NO_HEADERS;
  const authorization: string[] = [];
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] ?? '';
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      authorization.push(raw[index + 1] ?? '');
    }
  }
  return authorization;
}

/** The path an audit event records: the query string is left out (it can carry tokens). */
export function auditedPathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}
