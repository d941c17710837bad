import type { WriteStream } from 'node:fs';
import Transport from 'winston-transport';

// winston puts the formatted line under this symbol (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');

/**
 * The audit file as a winston transport: each event's JSON line, appended to a file stream.
 *
 * Written here rather than taken from winston's Stream transport, for two reasons. winston's
 * transport announces every event as `logged` whether or not its stream could write it, so a
 * file that had failed looked healthy again one turn later and events were lost unreported; a
 * failed file stream never writes again, and this transport does not pretend otherwise. And it
 * hands the events of one turn of the event loop to the file in one write, one system call
 * instead of one per event, which on a busy server costs more than the events themselves; no
 * event waits longer for it, since the write starts as soon as the turn is over.
 */
export class AuditFileTransport extends Transport {
  readonly #file: WriteStream;
  #corked = false;

  constructor(file: WriteStream) {
    super();
    this.#file = file;
  }

  override log(info: Record<symbol, unknown>, next: () => void): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#file.cork();
      setImmediate(this.#uncork);
    }
    this.#file.write(`${String(info[MESSAGE])}\n`);
    next();
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#file.uncork();
  };
}
