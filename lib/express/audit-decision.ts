import type { Request, Response } from 'express';
import { buildAuditEvent, DEFAULT_AUDIT_SOURCE } from '../audit/audit-event.js';
import { endRequestScope } from '../core/request-context.js';
import { recordAuditEvent } from '../audit/auditor.js';
import type { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { auditedPath } from './request-parts.js';
import { clientAddress, requestState, type RequestState } from './request-state.js';

/**
 * Records one allow or deny decision of a middleware as an audit event. Returns a promise only
 * under the `fail-closed` policy; it rejects with `audit_unavailable` when the sink fails.
 */
export function auditDecision(
  req: Request,
  state: RequestState,
  decision: {
    action: string;
    identity: Identity | undefined;
    error?: IdentityError;
    source?: string | undefined;
    /** Extra facts (the username a failed sign-in tried); never secrets. */
    details?: Readonly<Record<string, unknown>>;
    now: () => number;
  },
): Promise<void> | undefined {
  if (state.audit === undefined) return undefined;
  const { error } = decision;
  return recordAuditEvent(
    state.audit,
    buildAuditEvent({
      action: decision.action,
      outcome: error === undefined ? 'allowed' : error.status >= 500 ? 'error' : 'denied',
      reason: error?.code ?? 'ok',
      status: error?.status ?? null,
      method: req.method,
      path: auditedPath(req),
      ip: clientAddress(req, state),
      requestId: state.requestId ?? 'unknown',
      source: decision.source ?? state.source ?? DEFAULT_AUDIT_SOURCE,
      identity: decision.identity,
      details: decisionDetails(decision.details, error),
      now: decision.now,
    }),
  );
}

const NO_DETAILS: Readonly<Record<string, unknown>> = Object.freeze({});

function decisionDetails(
  details: Readonly<Record<string, unknown>> | undefined,
  error: IdentityError | undefined,
): Readonly<Record<string, unknown>> {
  // An allowed request without extra facts, the common case, allocates nothing here.
  if (error === undefined) return details ?? NO_DETAILS;
  const cause = error.cause;
  return {
    ...details,
    ...error.details,
    // The library's own words help the on-call engineer; they never contain the token.
    ...(cause instanceof Error ? { cause: `${cause.name}: ${cause.message}` } : {}),
  };
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

/** Writes a deferred authentication event, if one is still waiting. */
export function flushPendingAuthentication(req: Request, state: RequestState): void {
  const pending = state.pendingAuthentication;
  if (pending === undefined) return;
  state.pendingAuthentication = undefined;
  void auditDecision(req, state, {
    action: 'authenticate',
    identity: pending.identity,
    now: () => pending.decidedAt,
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
export function endRequest(req: Request, state: RequestState): void {
  flushPendingAuthentication(req, state);
  if (state.scope !== undefined) endRequestScope(state.scope);
}
