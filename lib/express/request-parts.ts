import type { Request } from 'express';
import type { AuditEventInput } from '../audit/audit-event.js';
import type { AuthenticationRequest } from '../providers/jwt/bearer-authenticator.js';

/**
 * The credential-bearing parts of an Express request as plain values. Authorization headers
 * are read from `rawHeaders` because Node keeps only the first of duplicated Authorization
 * headers in `req.headers`, which would hide a second credential.
 */
export function authenticationRequest(req: Request): AuthenticationRequest {
  const authorization: string[] = [];
  for (let index = 0; index < req.rawHeaders.length; index += 2) {
    if (req.rawHeaders[index]?.toLowerCase() === 'authorization') {
      authorization.push(req.rawHeaders[index + 1] ?? '');
    }
  }
  return {
    authorization,
    url: req.originalUrl,
    headers: req.headers,
    method: req.method,
    // RFC 6750 §2.2 defines a body token only for form-encoded bodies.
    body: req.is('application/x-www-form-urlencoded') ? (req.body as unknown) : undefined,
  };
}

/** The request facts an audit event records. */
export function auditRequestFacts(req: Request): Pick<AuditEventInput, 'method' | 'path' | 'ip'> {
  const url = req.originalUrl;
  const queryStart = url.indexOf('?');
  return {
    method: req.method,
    // The query string is left out: it can carry tokens, keys or personal data.
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    ip: req.ip ?? req.socket.remoteAddress,
  };
}
