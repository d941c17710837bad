import { decisionChannel } from '../core/diagnostics.js';
import { IdentityError } from '../core/errors.js';
import type { AuditEvent } from './audit-event.js';
import type { AuditSink } from './audit-sink.js';

/** Called when a sink throws or rejects; the default writes the event to standard error. */
export type AuditFailureHandler = (error: unknown, event: AuditEvent) => void;

/**
 * What happens when the audit sink fails.
 * - `fail-open` (default): the request goes on; the failure and the event go to the failure
 *   handler (standard error by default), so no event is lost silently.
 * - `fail-closed`: the decision waits for the sink to have written the event (its `flush`,
 *   when it has one), and a failure refuses the request with 503 `audit_unavailable` (what
 *   compliance teams ask for: no audit, no access).
 */
export type AuditFailurePolicy = 'fail-open' | 'fail-closed';

/** A sink with its failure policy, as the middlewares and the passthrough client use it. */
export interface AuditTrail {
  readonly sink: AuditSink;
  readonly policy: AuditFailurePolicy;
  readonly onFailure: AuditFailureHandler;
}

export function createAuditTrail(
  sink: AuditSink,
  policy: AuditFailurePolicy = 'fail-open',
  onFailure: AuditFailureHandler = reportToStderr,
): AuditTrail {
  return Object.freeze({ sink, policy, onFailure });
}

// After the sink has taken the event: the package's events are frozen (buildAuditEvent), so what
// a subscriber does with its message cannot change the audit line.
function publishDecision(event: AuditEvent): void {
  if (decisionChannel.hasSubscribers) decisionChannel.publish(event);
}

/**
 * Hands an event to the sink. Under `fail-open` it returns at once (the request path never
 * waits on the sink) and never throws. Under `fail-closed` it returns a promise that settles
 * once the sink has written the event, and rejects with `audit_unavailable` when it could not.
 */
export function recordAuditEvent(trail: AuditTrail, event: AuditEvent): Promise<void> | undefined {
  const { sink } = trail;
  let pending: unknown;
  try {
    pending = sink.log(event);
  } catch (error) {
    publishDecision(event);
    return failed(trail, event, error);
  }
  publishDecision(event);
  try {
    // Accepted is not written: a batching sink writes at the end of the loop turn, after the
    // action had already gone ahead. Fail-closed means written first, so the batch goes now.
    if (trail.policy === 'fail-closed' && typeof sink.flush === 'function') {
      pending = isThenable(pending)
        ? Promise.resolve(pending).then(() => sink.flush?.())
        : sink.flush();
    }
  } catch (error) {
    return failed(trail, event, error);
  }
  // Sinks written in JavaScript return whatever their logger returns (`logger.info(e)` returns
  // the logger): anything that is not a thenable counts as written, never as a crash.
  if (!isThenable(pending)) {
    return trail.policy === 'fail-closed' ? Promise.resolve() : undefined;
  }
  const settled = Promise.resolve(pending).then(undefined, (error: unknown) =>
    failed(trail, event, error),
  );
  if (trail.policy === 'fail-closed') return settled;
  void settled.catch(() => undefined);
  return undefined;
}

function isThenable(value: unknown): value is PromiseLike<void> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function failed(trail: AuditTrail, event: AuditEvent, error: unknown): Promise<void> | undefined {
  try {
    trail.onFailure(error, event);
  } catch {
    // A failing failure handler must not turn an audit problem into a crash.
  }
  if (trail.policy === 'fail-open') return undefined;
  return Promise.reject(
    new IdentityError(
      'audit_unavailable',
      'The audit trail cannot be written, and this service refuses to act without it.',
      { cause: error },
    ),
  );
}

function reportToStderr(error: unknown, event: AuditEvent): void {
  const reason = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message: 'audit sink failed', reason, lost_event: event })}\n`,
  );
}
