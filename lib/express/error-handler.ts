import type { ErrorRequestHandler } from 'express';
import { isIdentityError } from '../core/errors.js';
import { requestState } from './request-state.js';

const GENERIC_MESSAGES: Readonly<Record<number, string>> = {
  500: 'The server could not authenticate this request.',
  503: 'The identity provider is unavailable; retry shortly.',
};

/**
 * Renders this package's refusals: the status, an RFC 6750 `WWW-Authenticate` challenge, and
 * a JSON body `{ code, message, request_id }`. Other errors pass through to the next handler.
 * Never sends a stack trace or a library's own message.
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
    const challenge = error.wwwAuthenticate(state.realm);
    if (challenge !== undefined) res.setHeader('WWW-Authenticate', challenge);
    const retryAfter = error.headers['Retry-After'];
    if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
    // RFC 6750 §5.3 and common sense: a refusal must not be cached by any intermediary.
    res.setHeader('Cache-Control', 'no-store');
    res.status(error.status).json({
      code: error.code,
      message: error.expose
        ? error.message
        : (GENERIC_MESSAGES[error.status] ?? 'Request refused.'),
      request_id: state.requestId ?? null,
    });
  };
}
