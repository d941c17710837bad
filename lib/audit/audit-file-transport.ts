import { closeSync, openSync, writeSync } from 'node:fs';
import Transport from 'winston-transport';

// winston puts the formatted line under this symbol (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');

/** First retry of a failed write; doubled after each failure, up to the maximum. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

export interface AuditFileCallbacks {
  /** A write failed: the sink refuses events from now on. */
  onFailure(error: unknown): void;
  /** A write succeeded (after a failure: everything kept has been written). */
  onSuccess(): void;
  /** The system call, replaceable to simulate a disk that fails and recovers. */
  write?: (fd: number, bytes: Buffer, offset: number) => number;
}

/**
 * The audit file as a winston transport: each event's JSON line, appended to a file.
 *
 * The events of one turn of the event loop are collected and written together, synchronously,
 * as soon as the turn is over (one `write` system call for every request whose data arrived
 * together). Under the `fail-closed` audit policy the sink calls {@link flush} after each event
 * instead, so the event is on disk before the action it records goes ahead. Synchronous, as pino writes by default, for two reasons measured on a busy server:
 * an asynchronous file write goes through libuv's thread pool, and that round trip cost more
 * CPU per request than the events themselves; and a written event is in the operating system's
 * hands at once, so a crash of the process loses at most the events of the current turn, where
 * an asynchronous stream could lose whatever was queued behind a slow disk. The price is that a
 * disk that blocks, blocks the event loop for that write: keep audit files on local storage.
 *
 * Written here rather than taken from winston's Stream transport also because that transport
 * announces every event as `logged` whether or not its stream could write it, so a failed file
 * looked healthy again one turn later. Here a failed write fails the sink until a write
 * succeeds: the bytes it could not write are kept and retried on a timer (a full disk that is
 * freed recovers by itself), events arriving meanwhile are not taken (the sink refuses them,
 * and the audit policy reports them), so every event is either in the file, once and whole, or
 * reported.
 */
export class AuditFileTransport extends Transport {
  readonly #fd: number;
  readonly #callbacks: AuditFileCallbacks;
  readonly #write: (fd: number, bytes: Buffer, offset: number) => number;
  #lines: string[] = [];
  #unwritten: Buffer | undefined;
  #scheduled = false;
  #retryMs = FIRST_RETRY_MS;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  /** Opens (or creates) `filename` for appending; throws when it cannot be opened. */
  constructor(filename: string, callbacks: AuditFileCallbacks) {
    super();
    this.#fd = openSync(filename, 'a', 0o640);
    this.#callbacks = callbacks;
    this.#write = callbacks.write ?? ((fd, bytes, offset) => writeSync(fd, bytes, offset));
  }

  /** Events accepted and not yet written. */
  get pending(): number {
    return this.#lines.length;
  }

  override log(info: Record<symbol, unknown>, next: () => void): void {
    if (this.#closed) {
      this.#callbacks.onFailure(new Error('the audit file has been closed'));
    } else if (this.#unwritten === undefined) {
      this.#lines.push(`${String(info[MESSAGE])}\n`);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.flush);
        unflushed.add(this);
        watchExit();
      }
    }
    // While a write is failing the event is not taken: the sink's failure refuses it.
    next();
  }

  /**
   * Writes what is waiting, synchronously; a failure goes to `onFailure` before this returns.
   * Run at the end of each loop turn, on a timer after a failure, and when the process exits.
   */
  readonly flush = (): void => {
    this.#scheduled = false;
    if (this.#closed) return;
    const lines = this.#lines;
    this.#lines = [];
    const bytes =
      this.#unwritten === undefined
        ? Buffer.from(lines.join(''))
        : Buffer.concat([this.#unwritten, Buffer.from(lines.join(''))]);
    if (bytes.length === 0) return;
    let offset = 0;
    try {
      // A regular file takes the whole write at once; a full disk may take part of it first.
      while (offset < bytes.length) offset += this.#write(this.#fd, bytes, offset);
    } catch (error) {
      // Only what was not written is kept, so a retry neither repeats nor cuts a line.
      this.#unwritten = bytes.subarray(offset);
      this.#scheduleRetry();
      this.#callbacks.onFailure(error);
      return;
    }
    const recovered = this.#unwritten !== undefined;
    this.#unwritten = undefined;
    this.#retryMs = FIRST_RETRY_MS;
    unflushed.delete(this);
    if (recovered || lines.length > 0) this.#callbacks.onSuccess();
  };

  #scheduleRetry(): void {
    if (this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.flush();
    }, this.#retryMs);
    // A retry alone does not keep the process running; the exit hook tries once more.
    this.#retry.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }

  override close(): void {
    if (this.#closed) return;
    this.flush();
    if (this.#unwritten !== undefined) {
      this.#callbacks.onFailure(
        new Error(`${this.#unwritten.length} bytes of audit events could not be written`),
      );
    }
    clearTimeout(this.#retry);
    this.#closed = true;
    unflushed.delete(this);
    closeSync(this.#fd);
  }
}

// Transports holding events not yet written: written when the process exits before their turn
// is over (an `exit` listener may only do synchronous work, which these writes are).
const unflushed = new Set<AuditFileTransport>();
let watching = false;

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.once('exit', () => {
    for (const transport of unflushed) transport.flush();
  });
}
