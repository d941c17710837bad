import { checkpointLine, keyId, signCheckpoint, type AuditFields } from './checkpoint.js';
import type { CheckpointKey } from './checkpoint-key.js';
import type { ChainHead } from './line-chain.js';

/** Default: a checkpoint after every 1000 events. */
export const DEFAULT_CHECKPOINT_EVERY = 1000;
/** Default: 60000 (1 minute) between checkpoints while events are written. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;

/** Integrity of an audit file: the key that signs its checkpoints, and how often. */
export interface IntegritySettings {
  readonly key: CheckpointKey;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  readonly fields: AuditFields;
  readonly now: () => number;
}

/** The audit file as the checkpointer sees it. */
export interface CheckpointTarget {
  readonly head: ChainHead;
  /** True while a write is failing (the file takes no line until it recovers). */
  isFailing(): boolean;
  /** Queues a line; false when the file does not take it (failing or closed). */
  append(line: string): boolean;
  /** Writes what is queued, now. */
  flush(): void;
  /** Reports a failure the way a failed write is reported. */
  fail(error: unknown): void;
}

/**
 * Signs the chain's head now and then, so that a forger who can rewrite the file (and
 * recompute its chain) is caught at the next checkpoint: a checkpoint names line `seq` and its
 * hash, signed with a key the forger does not hold. Signing is asynchronous (jose over Web
 * Crypto) and never on the event's path: a checkpoint names the last line written when it was
 * started, and is appended once signed; its own line is chained like any other.
 *
 * Triggered by count (`checkpointEvery` events) and by time (`checkpointIntervalMs` while
 * events arrive); an idle file gets none.
 */
export class Checkpointer {
  readonly #target: CheckpointTarget;
  readonly #settings: IntegritySettings;
  readonly #timer: NodeJS.Timeout;
  #kid: Promise<string> | undefined;
  #queue: Promise<void> = Promise.resolve();
  // Events linked since the last checkpoint began; the checkpoints' own lines are not counted.
  #since = 0;
  #ownPending = 0;
  #autoQueued = false;
  #closed = false;

  constructor(target: CheckpointTarget, settings: IntegritySettings) {
    this.#target = target;
    this.#settings = settings;
    this.#timer = setInterval(() => {
      if (this.#since > 0) this.#auto();
    }, settings.checkpointIntervalMs);
    // Checkpoints never keep a process alive; what is after the last one is told by `verify`.
    this.#timer.unref();
  }

  /** `count` lines have been chained (the file's batched write calls this). */
  linked(count: number): void {
    const own = Math.min(count, this.#ownPending);
    this.#ownPending -= own;
    this.#since += count - own;
    if (this.#since >= this.#settings.checkpointEvery) this.#auto();
  }

  /**
   * A checkpoint over every line queued before the call, written to the file when the promise
   * resolves. Resolves at once when no event was written since the last one; rejects when the
   * file could not take or write it.
   */
  checkpoint(): Promise<void> {
    return this.#enqueue(true).then(() => undefined);
  }

  /** No checkpoint after this one; a signature still running is dropped. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  // One checkpoint at a time, in the order asked for.
  #enqueue(required: boolean): Promise<boolean> {
    const run = this.#queue.then(() => this.#write(required));
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #auto(): void {
    if (this.#autoQueued || this.#closed) return;
    this.#autoQueued = true;
    this.#enqueue(false).then(
      (written) => {
        this.#autoQueued = false;
        // Events that arrived while it was signed may already call for the next one.
        if (written && this.#since >= this.#settings.checkpointEvery) this.#auto();
      },
      (error: unknown) => {
        this.#autoQueued = false;
        this.#target.fail(error);
      },
    );
  }

  /**
   * Signs the head and appends the checkpoint; true once written. A failing file (whose failure
   * is reported already) gets none: its events count towards the checkpoint after it recovers.
   * `required` (an explicit `checkpoint()`) turns every way of not writing it into a rejection.
   */
  async #write(required: boolean): Promise<boolean> {
    if (this.#closed) return false;
    // Not even flushed: that would retry the failed write ahead of its back-off.
    if (this.#target.isFailing()) return notWritten(required, 'the audit file is failing');
    // Lines queued in this turn are chained (and written) first, so the checkpoint covers them.
    this.#target.flush();
    if (this.#target.isFailing()) return notWritten(required, 'the audit file is failing');
    const head = this.#target.head;
    const since = this.#since;
    if (since === 0 || head.hash === null) return false;
    this.#since = 0;
    const { key, fields, now } = this.#settings;
    const kid = await (this.#kid ??= keyId(key.key));
    const time = new Date(now()).toISOString();
    const jws = await signCheckpoint(
      { seq: head.seq, hash: head.hash },
      { ...key, kid },
      time,
      this.#settings.checkpointEvery,
    );
    // Closed while signing: the file takes no more lines.
    if (this.#isClosed()) return false;
    if (!this.#target.append(checkpointLine(jws, time, fields))) {
      this.#since += since;
      return notWritten(required, 'the audit file is not taking lines');
    }
    this.#ownPending += 1;
    this.#target.flush();
    if (this.#target.isFailing()) return notWritten(required, 'its write failed (it is retried)');
    return true;
  }
}

function notWritten(required: boolean, reason: string): false {
  if (required) throw new Error(`the checkpoint was not written: ${reason}`);
  return false;
}
