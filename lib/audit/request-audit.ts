import type { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { buildAuditEvent, DEFAULT_AUDIT_SOURCE, type AuditOutcome } from './audit-event.js';
import { recordAuditEvent, type AuditTrail } from './auditor.js';

/** Where a request's events say it happened; read only when an event is written. */
export interface RequestFacts {
  readonly method: string;
  /** The path, without the query string (which may carry anything). */
  readonly path: string;
  readonly ip: string | undefined;
  readonly requestId: string;
}

/** One allow or deny decision about a request. */
export interface RequestDecision {
  readonly action: string;
  readonly identity: Identity | undefined;
  /** The refusal; none means allowed. */
  readonly error?: IdentityError | undefined;
  /** The agent acting for the user; default: the request's, then `ai-assistant`. */
  readonly source?: string | undefined;
  /** What was acted on; default: the request's `METHOD /path`. */
  readonly resource?: string | undefined;
  /** The agent, when the identity names no actor (an MCP client's OAuth client id). */
  readonly actor?: string | undefined;
  /** Extra facts (the username a failed sign-in tried); never secrets. */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
  readonly now: () => number;
}

const NO_DETAILS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The audit protocol of one request, whatever serves it (an Express chain, an MCP tool call, a
 * plain `node:http` handler): every decision is one event, and an allowed authentication under
 * `fail-open` waits, because the route's guard decision names the same person and supersedes
 * it; it is written when the request ends if no guard decided. Under `fail-closed` every event
 * is written before its decision takes effect (the returned promise), and a failed write turns
 * the decision into 503 `audit_unavailable`.
 *
 * @typeParam Request - whatever the adapter reads the request's facts from.
 */
export class RequestAudit<Request> {
  /** Where events go; the first middleware that knows sets it. None: nothing is recorded. */
  trail: AuditTrail | undefined = undefined;
  /** The request's default `source`. */
  source: string | undefined = undefined;
  #pending: { readonly identity: Identity; readonly decidedAt: number } | undefined;
  readonly #request: Request;
  readonly #factsOf: (request: Request) => RequestFacts;

  /** `factsOf` is one function for all requests: no closure per request. */
  constructor(request: Request, factsOf: (request: Request) => RequestFacts) {
    if (typeof factsOf !== 'function') {
      throw new TypeError('RequestAudit: "factsOf" must be a function (request) => RequestFacts');
    }
    this.#request = request;
    this.#factsOf = factsOf;
  }

  /** Records a decision; a promise only under `fail-closed` (rejecting when the sink fails). */
  record(decision: RequestDecision): Promise<void> | undefined {
    if (this.trail === undefined) return undefined;
    const { error } = decision;
    const facts = this.#factsOf(this.#request);
    return recordAuditEvent(
      this.trail,
      buildAuditEvent({
        action: decision.action,
        outcome: outcomeOf(error),
        reason: error?.code ?? 'ok',
        status: error?.status ?? null,
        method: facts.method,
        path: facts.path,
        ip: facts.ip,
        requestId: facts.requestId,
        source: decision.source ?? this.source ?? DEFAULT_AUDIT_SOURCE,
        identity: decision.identity,
        resource: decision.resource,
        actor: decision.actor,
        details: decisionDetails(decision.details, error),
        now: decision.now,
      }),
    );
  }

  /**
   * An allowed authentication: written at once under `fail-closed` (the promise), otherwise
   * kept until a guard supersedes it or the request ends.
   */
  authenticated(identity: Identity, now: () => number): Promise<void> | undefined {
    if (this.trail?.policy === 'fail-closed') {
      return this.record({ action: 'authenticate', identity, now });
    }
    this.#pending = { identity, decidedAt: now() };
    return undefined;
  }

  /** A guard decided about the same person: the waiting authentication event is not needed. */
  supersede(): void {
    this.#pending = undefined;
  }

  /** The request is over: a waiting authentication event is written now. */
  end(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    void this.record({
      action: 'authenticate',
      identity: pending.identity,
      now: () => pending.decidedAt,
    });
  }
}

/** The outcome a decision is recorded with: refused by policy, or failed on the server's side. */
export function outcomeOf(error: IdentityError | undefined): AuditOutcome {
  return error === undefined ? 'allowed' : error.status >= 500 ? 'error' : 'denied';
}

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
