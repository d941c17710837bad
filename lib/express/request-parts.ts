import type { Request } from 'express';
import { auditedPathOf, credentialParts } from '../core/node-request.js';
import type { AuthenticationRequest } from '../bearer/bearer-authenticator.js';

/** The credential-bearing parts of an Express request as plain values. */
export function authenticationRequest(req: Request): AuthenticationRequest {
  return credentialParts(req, {
    url: req.originalUrl,
    // RFC 6750 §2.2 defines a body token only for form-encoded bodies; without a body parser
    // there is no body to look at, and no content type to parse.
    formBody:
      req.body !== undefined && typeof req.is('application/x-www-form-urlencoded') === 'string'
        ? (req.body as unknown)
        : undefined,
  });
}

/** The path an audit event records as the resource. */
export function auditedPath(req: Request): string {
  return auditedPathOf(req.originalUrl);
}
