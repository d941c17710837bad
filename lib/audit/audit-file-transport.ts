import { closeSync, openSync, writeSync } from 'node:fs';
import Transport from 'winston-transport';

// winston puts the formatted line under this symbol (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');

/**
 * The audit file as a winston transport: each event's JSON line, appended to a file.
 *
 * The events of one turn of the event loop are collected and written together, synchronously,
 * as soon as the turn is over (one `write` system call for every request whose data arrived
 * together). Synchronous, as pino writes by default, for two reasons measured on a busy server:
 * an asynchronous file write goes through libuv's thread pool, and that round trip cost more
 * CPU per request than the events themselves; and a written event is in the operating system's
 * hands at once, so a crash of the process loses at most the events of the current turn, where
 * an asynchronous stream could lose whatever was queued behind a slow disk. The price is that a
 * disk that blocks, blocks the event loop for that write: keep audit files on local storage.
 *
 * Written here rather than taken from winston's Stream transport also because that transport
 * announces every event as `logged` whether or not its stream could write it, so a failed file
 * looked healthy again one turn later. Here a failed write is reported until a write succeeds,
 * and its events are kept and written first by the next write that does (the sink bounds how
 * many may wait), so a disk that fills up and is freed again loses nothing.
 */
export class AuditFileTransport extends Transport {
  readonly #fd: number;
  readonly #onFailure: (error: unknown) => void;
  readonly #onSuccess: () => void;
  #lines: string[] = [];
  #scheduled = false;
  #closed = false;

  /** Opens (or creates) `filename` for appending; throws when it cannot be opened. */
  constructor(
    filename: string,
    callbacks: { onFailure: (error: unknown) => void; onSuccess: () => void },
  ) {
    super();
    this.#fd = openSync(filename, 'a', 0o640);
    this.#onFailure = callbacks.onFailure;
    this.#onSuccess = callbacks.onSuccess;
  }

  /** Events accepted and not yet written. */
  get pending(): number {
    return this.#lines.length;
  }

  override log(info: Record<symbol, unknown>, next: () => void): void {
    if (this.#closed) {
      this.#onFailure(new Error('the audit file has been closed'));
    } else {
      this.#lines.push(`${String(info[MESSAGE])}\n`);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.flush);
        unflushed.add(this);
        watchExit();
      }
    }
    next();
  }

  /** Writes what this turn collected. Also run when the process exits. */
  readonly flush = (): void => {
    this.#scheduled = false;
    const lines = this.#lines;
    if (lines.length === 0 || this.#closed) return;
    this.#lines = [];
    try {
      const bytes = Buffer.from(lines.join(''));
      // A regular file takes the whole write at once; the loop covers a short write anyway.
      for (let offset = 0; offset < bytes.length;) {
        offset += writeSync(this.#fd, bytes, offset);
      }
    } catch (error) {
      // Kept for the next write (a part already written may then appear twice, which an audit
      // trail tolerates better than a gap); until then, the sink refuses new events.
      this.#lines = lines;
      this.#onFailure(error);
      return;
    }
    unflushed.delete(this);
    this.#onSuccess();
  };

  override close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    closeSync(this.#fd);
  }
}

// Transports holding events of the current turn: written when the process exits before the
// turn is over (an `exit` listener may only do synchronous work, which these writes are).
const unflushed = new Set<AuditFileTransport>();
let watching = false;

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.once('exit', () => {
    for (const transport of unflushed) transport.flush();
  });
}
