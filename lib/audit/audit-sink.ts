import type { AuditEvent } from './audit-event.js';

/**
 * Where audit events go. `log` may return a promise; a rejected one (or a throw) is reported
 * through the auditor's failure handler and never reaches the request.
 */
export interface AuditSink {
  log(event: AuditEvent): void | Promise<void>;
  /**
   * Optional. Writes what `log` has accepted and not yet written, and throws (or rejects) when
   * it cannot. Under the `fail-closed` policy it is called after every event, before the action
   * the event records goes ahead: a sink that batches its writes (as the audit file does, once
   * per turn of the event loop) implements it, or a failing write is found only after the
   * action. Never called under `fail-open`, which keeps the batching.
   */
  flush?(): void | Promise<void>;
}

/** An in-memory sink for tests and local inspection. */
export interface MemoryAuditSink extends AuditSink {
  readonly events: readonly AuditEvent[];
  clear(): void;
}

/** Keeps every event in an array, bounded so a long-running process cannot grow without end. */
export function createMemoryAuditSink(options: { maxEvents?: number } = {}): MemoryAuditSink {
  const maxEvents = options.maxEvents ?? 10_000;
  const events: AuditEvent[] = [];
  return {
    events,
    log(event) {
      events.push(event);
      if (events.length > maxEvents) events.splice(0, events.length - maxEvents);
    },
    clear() {
      events.length = 0;
    },
  };
}
