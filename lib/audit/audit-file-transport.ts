import { createRequire } from 'node:module';
import type TransportStream from 'winston-transport';
import { AuditFile, type AuditFileOptions } from './audit-file.js';

export type { AuditFileCallbacks, AuditFileOptions } from './audit-file.js';

// winston puts the formatted line under this symbol (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');

/**
 * The audit file as a winston transport: each event's JSON line, appended to a file.
 *
 * The events of one turn of the event loop are collected and written together, synchronously,
 * as soon as the turn is over (one `write` system call for every request whose data arrived
 * together). Under the `fail-closed` audit policy the sink calls {@link flush} after each event
 * instead, so the event is on disk before the action it records goes ahead. Synchronous, as
 * pino writes by default, for two reasons measured on a busy server: an asynchronous file
 * write goes through libuv's thread pool, and that round trip cost more CPU per request than
 * the events themselves; and a written event is in the operating system's hands at once, so a
 * crash of the process loses at most the events of the current turn, where an asynchronous
 * stream could lose whatever was queued behind a slow disk. The price is that a disk that
 * blocks, blocks the event loop for that write: keep audit files on local storage.
 *
 * Written here rather than taken from winston's Stream transport also because that transport
 * announces every event as `logged` whether or not its stream could write it, so a failed file
 * looked healthy again one turn later. Here a failed write fails the sink until a write
 * succeeds: the bytes it could not write are kept and retried on a timer (a full disk that is
 * freed recovers by itself), events arriving meanwhile are not taken (the sink refuses them,
 * and the audit policy reports them), so every event is either in the file, once and whole, or
 * reported.
 *
 * With `integrity`, every line is chained to the one before and checkpoints are signed (see
 * `LineChain` and `Checkpointer`); with `rotationCheckIntervalMs`, a file renamed away by
 * logrotate is followed by a new one at the same path.
 */
export interface AuditFileTransport extends TransportStream {
  /** Events accepted and not yet written. */
  readonly pending: number;
  /** Writes what is waiting, synchronously; a failure goes to `onFailure` before it returns. */
  readonly flush: () => void;
  /** Takes the event's line for this turn's write (not while a write is failing). */
  log(info: Record<symbol, unknown>, next: () => void): void;
  /** Takes one serialized line, as `log` takes winston's (see createWinstonAuditSink). */
  appendLine(line: string): void;
  /** Continues in a new file at the same path (after a rotation); see `AuditFile.reopen`. */
  reopen(): void;
  /** Writes a signed checkpoint now; rejects without integrity. */
  checkpoint(): Promise<void>;
  close(): void;
}

/** Creates the transport; `new AuditFileTransport(filename, options)` throws when it cannot open. */
export interface AuditFileTransportConstructor {
  new (filename: string, options: AuditFileOptions): AuditFileTransport;
}

const requireHere = createRequire(import.meta.url);
let transportClass: AuditFileTransportConstructor | undefined;

/**
 * The class, defined on first use: it extends winston-transport's class, and loading winston
 * costs more import time than the rest of the package, so an application that never writes an
 * audit file through winston never loads it.
 */
function auditFileTransportClass(): AuditFileTransportConstructor {
  transportClass ??= defineTransport(requireHere('winston-transport') as typeof TransportStream);
  return transportClass;
}

function defineTransport(Transport: typeof TransportStream): AuditFileTransportConstructor {
  return class AuditFileTransport extends Transport {
    readonly #file: AuditFile;

    constructor(filename: string, options: AuditFileOptions) {
      super();
      this.#file = new AuditFile(filename, options);
    }

    get pending(): number {
      return this.#file.pending;
    }

    readonly flush = (): void => {
      this.#file.flush();
    };

    override log(info: Record<symbol, unknown>, next: () => void): void {
      // While a write is failing the event is not taken: the sink's failure refuses it.
      this.#file.append(String(info[MESSAGE]));
      next();
    }

    appendLine(line: string): void {
      this.#file.append(line);
    }

    reopen(): void {
      this.#file.reopen();
    }

    checkpoint(): Promise<void> {
      return this.#file.checkpoint();
    }

    override close(): void {
      this.#file.close();
    }
  };
}

/**
 * The audit file transport: `new AuditFileTransport(filename, options)` and
 * `transport instanceof AuditFileTransport` work as with a class, while the class itself (and
 * winston-transport) is loaded on the first `new`.
 */
// A constructor function that returns an object makes `new` yield that object.
export const AuditFileTransport = function AuditFileTransport(
  filename: string,
  options: AuditFileOptions,
): AuditFileTransport {
  const Class = auditFileTransportClass();
  return new Class(filename, options);
} as unknown as AuditFileTransportConstructor;

Object.defineProperty(AuditFileTransport, Symbol.hasInstance, {
  value: (value: unknown) => transportClass !== undefined && value instanceof transportClass,
});
