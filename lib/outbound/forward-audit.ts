import { buildAuditEvent, type AuditOutcome } from '../audit/audit-event.js';
import { recordAuditEvent, type AuditTrail } from '../audit/auditor.js';
import { publishForward } from '../core/diagnostics.js';
import { isIdentityError, type IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { forwardStrategy } from './credential-strategy.js';
import type { BodyReport } from './metered-body.js';
import type { Upstream } from './upstream.js';
import { outcomeOf } from '../audit/request-audit.js';

/** What one event of a forwarded call says happened. */
export interface ForwardFacts {
  error?: IdentityError;
  status?: number;
  report?: BodyReport;
  /** Under fail-closed, the event written before a write is sent. */
  intent?: boolean;
}

/** What stays the same for every event of one call. */
export interface ForwardCallInfo {
  readonly trail: AuditTrail;
  readonly identity: Identity | undefined;
  readonly action: string;
  readonly filters: unknown;
  readonly requestId: string;
  readonly ip: string | undefined;
  readonly source: string;
  readonly started: number;
  readonly now: () => number;
}

/**
 * The audit record of one forwarded call: one event when it ends (plus, under fail-closed, the
 * intent event of a write). Where the call goes and with which method change as it is
 * redirected, so they are read when the event is written.
 */
export class ForwardAudit {
  method: string;
  url: URL | undefined;
  upstream: Upstream | undefined;
  /** The `traceparent` of the last request sent: the call as the upstream's logs know it. */
  traceparent: string | undefined;
  #done = false;
  readonly #call: ForwardCallInfo;

  constructor(call: ForwardCallInfo, method: string) {
    this.#call = call;
    this.method = method;
  }

  /** Records the event; under fail-closed, the returned promise rejects when it is not written. */
  record(facts: ForwardFacts): Promise<void> | undefined {
    // One event per call (plus a fail-closed write's intent), even when a fail-closed write
    // fails and the failure comes back here.
    if (this.#done) return undefined;
    if (facts.intent !== true) this.#done = true;
    const call = this.#call;
    const { url, upstream } = this;
    const { outcome, reason, status } = verdict(facts);
    const bodyError = facts.report?.error;
    // A refused destination is recorded by origin only (its path is attacker-chosen text), and
    // so is a URL that held the user's credential (its path or query may be that credential).
    const originOnly = upstream === undefined || facts.error?.code === 'token_in_url';
    const event = buildAuditEvent({
      action: call.action,
      outcome,
      reason,
      status,
      method: this.method,
      path: url === undefined ? '(invalid url)' : `${url.origin}${originOnly ? '' : url.pathname}`,
      requestId: call.requestId,
      ip: call.ip,
      source: call.source,
      identity: call.identity,
      filters: originOnly ? null : (call.filters ?? url?.searchParams.get('filter') ?? null),
      recordsReturned: facts.report?.records ?? null,
      ...(upstream === undefined ? {} : { upstream: upstream.name }),
      ...(facts.status === undefined ? {} : { upstreamStatus: facts.status }),
      durationMs: call.now() - call.started,
      details: {
        ...(upstream === undefined
          ? {}
          : { strategy: upstream.strategy?.name ?? forwardStrategy.name }),
        ...(this.traceparent === undefined ? {} : { traceparent: this.traceparent }),
        ...facts.error?.details,
        ...(facts.report === undefined ? {} : { bytes: facts.report.bytes }),
        ...(bodyError instanceof Error ? { body_error: bodyError.message } : {}),
        // The upstream's own explanation of an error, bounded and escaped by the event
        // builder: for the audit trail, never for the client.
        ...(facts.report?.excerpt == null ? {} : { upstream_error: facts.report.excerpt }),
      },
      now: call.now,
    });
    // The call's end, for monitoring: the last event only, not a fail-closed write's intent.
    if (facts.intent !== true) publishForward(event, this.method, url);
    return recordAuditEvent(call.trail, event);
  }
}

function verdict(facts: ForwardFacts): {
  outcome: AuditOutcome;
  reason: string;
  status: number | null;
} {
  const error = facts.error ?? cutBy(facts.report);
  if (error !== undefined) {
    return {
      outcome: outcomeOf(error),
      reason: error.code,
      status: error.status,
    };
  }
  const upstream = facts.status;
  if (facts.intent === true) return { outcome: 'allowed', reason: 'intent', status: null };
  if (upstream !== undefined && upstream >= 400) {
    return {
      outcome: upstream === 401 || upstream === 403 ? 'denied' : 'error',
      reason: `upstream_${upstream}`,
      status: null,
    };
  }
  // Cancelled by the caller before its end: allowed, but not a complete read.
  if (facts.report?.error !== undefined) {
    return { outcome: 'allowed', reason: 'response_cancelled', status: null };
  }
  return { outcome: 'allowed', reason: 'ok', status: null };
}

/** The package's error that cut the body short (too large, timed out, broken off), if any. */
function cutBy(report: BodyReport | undefined): IdentityError | undefined {
  return isIdentityError(report?.error) ? report.error : undefined;
}
