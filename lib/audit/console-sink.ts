import type { AuditSink } from './audit-sink.js';

/** Writes each event as one JSON line to a stream (default: standard output). */
export function createConsoleAuditSink(
  stream: { write(line: string): unknown } = process.stdout,
): AuditSink {
  return {
    log(event) {
      stream.write(`${JSON.stringify(event)}\n`);
    },
  };
}
