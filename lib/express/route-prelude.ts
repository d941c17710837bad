import type { RequestHandler } from 'express';
import type { AuditTrail } from '../audit/auditor.js';
import { requestIdFrom } from '../core/request-id.js';
import { requestState } from './request-state.js';

/**
 * The first middleware of every sign-in router: a request id (echoed as `X-Request-Id`), the
 * audit trail and source for the events of the request, and `Cache-Control: no-store`, because
 * these responses carry tokens or set session cookies (RFC 6749 §5.1).
 */
export function routePrelude(options: {
  trail: AuditTrail;
  source: string | undefined;
  generateRequestId: (() => string) | undefined;
}): RequestHandler {
  return (req, res, next) => {
    const state = requestState(req);
    state.requestId ??= requestIdFrom(req.headers, options.generateRequestId);
    state.audit.trail = options.trail;
    state.audit.source ??= options.source;
    res.setHeader('X-Request-Id', state.requestId);
    res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
