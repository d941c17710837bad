import type { Request, Response } from 'express';
import type { RequestDecision } from '../audit/request-audit.js';
import { endRequestScope } from '../core/request-context.js';
import { requestState, type RequestState } from './request-state.js';

/**
 * Records one allow or deny decision of a middleware as an audit event. Returns a promise only
 * under the `fail-closed` policy; it rejects with `audit_unavailable` when the sink fails.
 */
export function auditDecision(
  _req: Request,
  state: RequestState,
  decision: RequestDecision,
): Promise<void> | undefined {
  return state.audit.record(decision);
}

/**
 * Audits a decision and then continues: `next()` when allowed, `next(error)` when refused. Under
 * `fail-closed`, an audit failure turns an allow into a 503 `audit_unavailable`.
 */
export function auditThenContinue(
  req: Request,
  state: RequestState,
  decision: Parameters<typeof auditDecision>[2],
  proceed: () => void,
  refuse: (error: unknown) => void,
): void {
  const pending = auditDecision(req, state, decision);
  if (pending === undefined) {
    if (decision.error === undefined) proceed();
    else refuse(decision.error);
    return;
  }
  pending.then(
    () => {
      if (decision.error === undefined) proceed();
      else refuse(decision.error);
    },
    (auditError: unknown) => {
      refuse(decision.error ?? auditError);
    },
  );
}

/**
 * Audits a sign-in route's decision, then answers: `respond()` once the event is written (under
 * `fail-closed`, no session is handed out unaudited), or `next(error)` when the sink fails.
 */
export function auditThenRespond(
  req: Request,
  next: (error: unknown) => void,
  decision: Parameters<typeof auditDecision>[2],
  respond: () => void,
): void {
  const pending = auditDecision(req, requestState(req), decision);
  if (pending === undefined) {
    respond();
    return;
  }
  pending.then(respond, (auditError: unknown) => {
    next(decision.error ?? auditError);
  });
}

/**
 * A response's `close` listener, one function for all requests: writes the authentication event
 * no route guard superseded, and ends the request scope.
 */
export function endOnClose(this: Response): void {
  endRequest(this.req, requestState(this.req));
}

/** The request is over: its deferred authentication event is written and its scope ended. */
export function endRequest(_req: Request, state: RequestState): void {
  state.audit.end();
  if (state.scope !== undefined) endRequestScope(state.scope);
}
