import type { ErrorRequestHandler } from 'express';
import { errorResponse } from '../core/error-response.js';
import { isIdentityError } from '../core/errors.js';
import { requestState } from './request-state.js';

/**
 * Renders this package's refusals: the status, an RFC 6750 `WWW-Authenticate` challenge, and
 * a JSON body `{ code, message, request_id }`. Other errors pass through to the next handler.
 * Never sends a stack trace or a library's own message: a 5xx error is told in its code's own
 * words (see `clientMessage`), so an audit outage does not read as an identity-provider outage.
 *
 * @example
 * ```ts
 * app.use(identityErrorHandler()); // after the routes
 * ```
 */
export function identityErrorHandler(): ErrorRequestHandler {
  return function identityErrorRenderer(error: unknown, req, res, next): void {
    if (!isIdentityError(error) || res.headersSent) {
      next(error);
      return;
    }
    const state = requestState(req);
    const { status, headers, body } = errorResponse(error, {
      requestId: state.requestId,
      realm: state.realm,
    });
    res.status(status).set(headers).send(body);
  };
}
