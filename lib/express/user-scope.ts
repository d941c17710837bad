import type { Request, Response } from 'express';
import type { Identity } from '../core/identity.js';
import { runInRequestScope } from '../core/request-context.js';
import { endOnClose, endRequest } from './audit-decision.js';
import { clientAddress, type RequestState } from './request-state.js';

/**
 * Runs the rest of the chain (`next`) in the request scope of the person just authenticated,
 * so that `getCurrentIdentity()` answers in the route and in everything it starts; the scope
 * ends with the response. Shared by `authenticate()` and the passport strategy.
 */
export function continueAsUser(
  req: Request,
  res: Response,
  state: RequestState,
  identity: Identity | undefined,
  next: () => void,
): void {
  // The client may have gone while the token was being verified: nothing to serve.
  if (res.closed) {
    endRequest(req, state);
    return;
  }
  const scope = {
    identity,
    requestId: state.requestId ?? '',
    ip: clientAddress(req, state),
    source: state.audit.source,
    // Upstream calls continue the caller's trace (W3C Trace Context) when it sent one.
    traceparent: req.headers['traceparent'],
    // Read when the scope is: once the response has ended, a timer or a late callback of this
    // request can no longer act as the user, even before the 'close' below.
    response: res,
  };
  state.scope = scope;
  runInRequestScope(scope, next);
  // Read again: the type checker cannot know that next() may have closed the response.
  const closedMeanwhile: boolean = Reflect.get(res, 'closed');
  // One listener function shared by all requests, not a closure per request.
  if (closedMeanwhile) endRequest(req, state);
  else res.on('close', endOnClose);
}
