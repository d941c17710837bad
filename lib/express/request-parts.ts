import type { Request } from 'express';
import type { AuthenticationRequest } from '../providers/jwt/bearer-authenticator.js';

/**
 * The credential-bearing parts of an Express request as plain values. Authorization headers
 * are read from `rawHeaders` because Node keeps only the first of duplicated Authorization
 * headers in `req.headers`, which would hide a second credential.
 */
export function authenticationRequest(req: Request): AuthenticationRequest {
  return {
    authorization: authorizationHeaders(req),
    url: req.originalUrl,
    headers: req.headers,
    method: req.method,
    // RFC 6750 §2.2 defines a body token only for form-encoded bodies; without a body parser
    // there is no body to look at, and no content type to parse.
    body:
      req.body !== undefined && typeof req.is('application/x-www-form-urlencoded') === 'string'
        ? (req.body as unknown)
        : undefined,
  };
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

function authorizationHeaders(req: Request): readonly string[] {
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

/** The path an audit event records as the resource. */
export function auditedPath(req: Request): string {
  const url = req.originalUrl;
  const queryStart = url.indexOf('?');
  // The query string is left out: it can carry tokens, keys or personal data.
  return queryStart === -1 ? url : url.slice(0, queryStart);
}
