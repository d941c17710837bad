import type { AuditEvent } from './audit-event.js';
import type { AuditSink } from './audit-sink.js';

/** Called when a sink throws or rejects; the default writes one line to stderr. */
export type AuditFailureHandler = (error: unknown, event: AuditEvent) => void;

/**
 * Hands events to a sink without ever letting the sink break the request path: a sink that
 * throws or rejects is reported, not propagated.
 */
export function recordAuditEvent(
  sink: AuditSink,
  event: AuditEvent,
  onFailure: AuditFailureHandler = reportToStderr,
): void {
  try {
    const pending = sink.log(event);
    if (pending !== undefined && typeof pending.then === 'function') {
      pending.then(undefined, (error: unknown) => onFailure(error, event));
    }
  } catch (error) {
    onFailure(error, event);
  }
}

function reportToStderr(error: unknown, event: AuditEvent): void {
  const reason = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message: 'audit sink failed', reason, lost_event: event })}\n`,
  );
}
