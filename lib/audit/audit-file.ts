import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { readChainHead } from './chain-tail.js';
import { Checkpointer, type CheckpointTarget, type IntegritySettings } from './checkpointer.js';
import { CHAIN_START, LineChain, type ChainHead } from './line-chain.js';

/** First retry of a failed write; doubled after each failure, up to the maximum. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/** What the audit file reports, and the system call it writes with. */
export interface AuditFileCallbacks {
  /** A write failed: the sink refuses events from now on. */
  onFailure(error: unknown): void;
  /** A write succeeded (after a failure: everything kept has been written). */
  onSuccess(): void;
  /** The system call, replaceable to simulate a disk that fails and recovers. */
  write?: (fd: number, bytes: Buffer, offset: number) => number;
}

/** Options of the audit file: its callbacks, integrity, and rotation. */
export interface AuditFileOptions extends AuditFileCallbacks {
  /** Chains every line and signs checkpoints. Default: none (plain JSON lines). */
  integrity?: IntegritySettings | undefined;
  /** Checks this often whether the path now names another file (rotated away). Default: off. */
  rotationCheckIntervalMs?: number | undefined;
}

/**
 * The audit file: lines appended in one synchronous write per turn of the event loop, a failed
 * write kept and retried, lines written when the process exits, and, with integrity, every line
 * chained to the one before and signed checkpoints. See `AuditFileTransport` for why it is
 * written this way; this class knows nothing of winston.
 */
export class AuditFile {
  readonly #path: string;
  readonly #callbacks: AuditFileCallbacks;
  readonly #write: (fd: number, bytes: Buffer, offset: number) => number;
  readonly #chain: LineChain | undefined;
  readonly #checkpointer: Checkpointer | undefined;
  readonly #rotationCheck: NodeJS.Timeout | undefined;
  #fd: number;
  #lines: string[] = [];
  #unwritten: Buffer | undefined;
  #scheduled = false;
  #retryMs = FIRST_RETRY_MS;
  #retry: NodeJS.Timeout | undefined;
  #reopenWanted = false;
  #closed = false;

  /** Opens (or creates) `path` for appending; throws when it cannot be opened or continued. */
  constructor(path: string, options: AuditFileOptions) {
    this.#path = path;
    this.#callbacks = options;
    this.#write = options.write ?? ((fd, bytes, offset) => writeSync(fd, bytes, offset));
    // With integrity, read access too: the chain continues from the file's last line.
    this.#fd = openSync(path, options.integrity === undefined ? 'a' : 'a+', 0o640);
    if (options.integrity !== undefined) {
      this.#chain = new LineChain(this.#headOnDisk());
      this.#checkpointer = new Checkpointer(this.#checkpointTarget(), options.integrity);
    }
    const every = options.rotationCheckIntervalMs;
    if (every !== undefined && every > 0) {
      this.#rotationCheck = setInterval(() => {
        if (this.#rotated()) this.reopen();
      }, every);
      // The check never keeps a process alive on its own.
      this.#rotationCheck.unref();
    }
  }

  /** Lines accepted and not yet written. */
  get pending(): number {
    return this.#lines.length;
  }

  /** The chain's last line, with integrity; undefined without. */
  get head(): ChainHead | undefined {
    return this.#chain?.head;
  }

  /**
   * Takes a line (without its newline) for the write at the end of this turn. False when it is
   * not taken: the file is closed (reported), or a write is failing (the sink refuses the event).
   */
  append(line: string): boolean {
    if (this.#closed) {
      this.#callbacks.onFailure(new Error('the audit file has been closed'));
      return false;
    }
    if (this.#unwritten !== undefined) return false;
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
      unflushed.add(this);
      watchExit();
    }
    return true;
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
    const text = lines.length === 0 ? '' : this.#text(lines);
    const bytes =
      this.#unwritten === undefined
        ? Buffer.from(text)
        : Buffer.concat([this.#unwritten, Buffer.from(text)]);
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
    if (this.#reopenWanted) this.reopen();
  };

  /**
   * Writes a signed checkpoint now (integrity only), for a graceful shutdown or before handing
   * the file over; resolves once it is written.
   */
  checkpoint(): Promise<void> {
    if (this.#checkpointer === undefined) {
      return Promise.reject(new TypeError('the audit file has no integrity option: no checkpoint'));
    }
    return this.#checkpointer.checkpoint();
  }

  /**
   * Starts writing to a new file at the same path, after the current one was renamed away
   * (logrotate's default): what is waiting goes to the old file first, and the chain goes on in
   * the new one, whose first line names the hash of the old file's last line. Waits for a
   * failing write to succeed first, so no line is split between the two files.
   */
  reopen(): void {
    if (this.#closed) return;
    this.flush();
    if (this.#unwritten !== undefined) {
      this.#reopenWanted = true;
      return;
    }
    this.#reopenWanted = false;
    let fd: number;
    try {
      fd = openSync(this.#path, this.#chain === undefined ? 'a' : 'a+', 0o640);
    } catch (error) {
      // The old file keeps taking lines; the next check (or reopen) tries again.
      this.#callbacks.onFailure(error);
      return;
    }
    closeSync(this.#fd);
    this.#fd = fd;
  }

  /** Writes what is waiting and closes the file; what could not be written is reported. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    if (this.#unwritten !== undefined) {
      this.#callbacks.onFailure(
        new Error(`${this.#unwritten.length} bytes of audit events could not be written`),
      );
    }
    clearTimeout(this.#retry);
    clearInterval(this.#rotationCheck);
    this.#checkpointer?.close();
    this.#closed = true;
    unflushed.delete(this);
    closeSync(this.#fd);
  }

  #text(lines: readonly string[]): string {
    const chain = this.#chain;
    if (chain === undefined) return `${lines.join('\n')}\n`;
    const linked = lines.map((line) => chain.link(line));
    this.#checkpointer?.linked(linked.length);
    return `${linked.join('\n')}\n`;
  }

  #headOnDisk(): ChainHead {
    try {
      return readChainHead(this.#fd, this.#path);
    } catch (error) {
      closeSync(this.#fd);
      throw error;
    }
  }

  #rotated(): boolean {
    try {
      const onDisk = statSync(this.#path, { throwIfNoEntry: false });
      const open = fstatSync(this.#fd);
      return onDisk === undefined || onDisk.ino !== open.ino || onDisk.dev !== open.dev;
    } catch {
      return false;
    }
  }

  #checkpointTarget(): CheckpointTarget {
    const head = (): ChainHead => this.#chain?.head ?? CHAIN_START;
    return {
      get head() {
        return head();
      },
      isFailing: () => this.#unwritten !== undefined,
      append: (line) => this.append(line),
      flush: () => {
        this.flush();
      },
      fail: (error) => {
        this.#callbacks.onFailure(error);
      },
    };
  }

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
}

// Files holding lines not yet written: written when the process exits before their turn is
// over (an `exit` listener may only do synchronous work, which these writes are).
const unflushed = new Set<AuditFile>();
let watching = false;

function watchExit(): void {
  if (watching) return;
  watching = true;
  process.once('exit', () => {
    for (const file of unflushed) file.flush();
  });
}
