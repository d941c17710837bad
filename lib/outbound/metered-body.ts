import type { UnderlyingSource } from 'node:stream/web';
import type { IdentityError } from '../core/errors.js';
import { JsonRecordCounter } from './record-counter.js';
import type { BodySource } from './upstream-transport.js';

/** What a metered body reports once, when it ends, fails, is cancelled or is left unread. */
export interface BodyReport {
  readonly bytes: number;
  readonly records: number | null;
  /**
   * Why the body did not end whole: an `IdentityError` when it was cut (too large, timed out,
   * broken off), the caller's reason when the caller cancelled it; undefined when it ended.
   */
  readonly error: unknown;
  /** The first `excerptBytes` of the body as text, when asked for (an error's explanation). */
  readonly excerpt: string | null;
}

export interface MeterOptions {
  maxBytes: number;
  countRecords: boolean;
  /** When the body must have been read by; past it, it is cut with `timedOut()`. */
  deadlineMs: number;
  /** Default: 0. Keep this many bytes from the start of the body for the report. */
  excerptBytes?: number;
  tooLarge: () => IdentityError;
  timedOut: () => IdentityError;
  /** What a failed read of the upstream body is to the reader (never the runtime's error). */
  readFailed: (error: unknown) => IdentityError;
  onEnd: (report: BodyReport) => Promise<void> | undefined;
}

/**
 * Passes an upstream body through unchanged while enforcing a size limit and a deadline and
 * counting JSON records, then calls `onEnd` exactly once.
 *
 * A body that does not end whole reaches its reader as the package's error, however it is read
 * (`json()`, `text()`, the stream): cut at `maxBytes`, still streaming (or unread) at the
 * deadline, or broken off. It never ends as if complete: once cut, a read of the upstream that
 * comes back "done" (which is what cancelling it does) is not taken for the end of the body. If
 * `onEnd` rejects (a fail-closed audit), the stream errors instead of closing.
 */
export function meterBody(body: BodySource, options: MeterOptions): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(new MeteredSource(body, options), {
    highWaterMark: 0,
  });
}

/**
 * The underlying source of a metered body, pulled one upstream chunk at a time. Its state lives
 * in fields rather than in closures: a body costs one object, not one closure per callback.
 */
/**
 * The same meter, read to the end at once: the whole body, or the error that cut it (after its
 * report, as for a stream). For bodies small enough to hold whole.
 */
export async function readMetered(body: BodySource, options: MeterOptions): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const end: { reached: boolean; failure?: Error } = { reached: false };
  const source = new MeteredSource(body, options);
  source.start({
    enqueue: (chunk: Uint8Array) => chunks.push(chunk),
    close: () => {
      end.reached = true;
    },
    error: (error: unknown) => {
      end.reached = true;
      end.failure = error instanceof Error ? error : new Error('the body could not be read');
    },
  } as unknown as ReadableStreamDefaultController<Uint8Array>);
  // Each pull reads a chunk, or ends the body (closed or errored); the meter's deadline bounds
  // how long that takes.
  while (!end.reached) await source.pull();
  if (end.failure !== undefined) throw end.failure;
  return Buffer.concat(chunks);
}

class MeteredSource implements UnderlyingSource<Uint8Array> {
  private readonly reader: BodySource;
  private readonly options: MeterOptions;
  private readonly counter: JsonRecordCounter | undefined;
  private readonly excerptBytes: number;
  private readonly kept: Uint8Array[] = [];
  private keptBytes = 0;
  private bytes = 0;
  private ended = false;
  private cancelled = false;
  /** Why the body was cut; from then on, every read of it fails with this. */
  private cut: IdentityError | undefined;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly deadline: NodeJS.Timeout;

  constructor(reader: BodySource, options: MeterOptions) {
    this.reader = reader;
    this.options = options;
    this.counter = options.countRecords ? new JsonRecordCounter() : undefined;
    this.excerptBytes = options.excerptBytes ?? 0;
    this.deadline = setTimeout(() => {
      void this.cutWith(options.timedOut());
    }, options.deadlineMs);
    this.deadline.unref();
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }

  async pull(): Promise<void> {
    let chunk: Awaited<ReturnType<BodySource['read']>>;
    try {
      chunk = await this.reader.read();
    } catch (error) {
      // The call's timeout signal errors the upstream body with the runtime's own error.
      if (!this.cancelled) await this.cutWith(this.cut ?? this.options.readFailed(error));
      return;
    }
    if (this.cancelled || this.cut !== undefined) return;
    const { value } = chunk;
    if (chunk.done || value === undefined) {
      try {
        await this.end(undefined);
        this.controller.close();
      } catch (auditError) {
        this.controller.error(auditError);
      }
      return;
    }
    this.bytes += value.byteLength;
    if (this.bytes > this.options.maxBytes) {
      await this.cutWith(this.options.tooLarge());
      return;
    }
    this.keepExcerpt(value);
    this.counter?.push(value);
    this.controller.enqueue(value);
  }

  async cancel(reason: unknown): Promise<void> {
    // Reported before the upstream is cancelled: a read pending in pull() resolves as
    // "done" on cancel, and must not be taken for a complete body.
    this.cancelled = true;
    const reported = this.end(reason ?? new Error('cancelled by the caller'));
    await this.reader.cancel(reason).catch(() => undefined);
    await settle(reported);
  }

  private keepExcerpt(chunk: Uint8Array): void {
    if (this.keptBytes >= this.excerptBytes) return;
    const part = chunk.subarray(0, this.excerptBytes - this.keptBytes);
    this.kept.push(part.slice());
    this.keptBytes += part.byteLength;
  }

  private async cutWith(error: IdentityError): Promise<void> {
    if (this.cut !== undefined || this.ended) return;
    this.cut = error;
    const reported = this.end(error);
    // Errored first, so that a read pending on the consumer's side fails now, not later.
    this.controller.error(error);
    await this.reader.cancel(error).catch(() => undefined);
    await settle(reported);
  }

  /** Reports the body once, however it ends. */
  private end(error: unknown): Promise<void> | undefined {
    if (this.ended) return undefined;
    this.ended = true;
    clearTimeout(this.deadline);
    return this.options.onEnd({
      bytes: this.bytes,
      records: error === undefined ? (this.counter?.result() ?? null) : null,
      error,
      excerpt: this.keptBytes === 0 ? null : Buffer.concat(this.kept).toString('utf8'),
    });
  }
}

async function settle(pending: Promise<void> | undefined): Promise<void> {
  await pending?.catch(() => undefined);
}
