import type { IdentityError } from '../core/errors.js';
import { JsonRecordCounter } from './record-counter.js';

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
export function meterBody(
  body: ReadableStream<Uint8Array>,
  options: MeterOptions,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const counter = options.countRecords ? new JsonRecordCounter() : undefined;
  const excerptBytes = options.excerptBytes ?? 0;
  const kept: Uint8Array[] = [];
  let keptBytes = 0;
  let bytes = 0;
  let ended = false;
  let cancelled = false;
  /** Why the body was cut; from then on, every read of it fails with this. */
  let cut: IdentityError | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const end = (error: unknown): Promise<void> | undefined => {
    if (ended) return undefined;
    ended = true;
    clearTimeout(deadline);
    return options.onEnd({
      bytes,
      records: error === undefined ? (counter?.result() ?? null) : null,
      error,
      excerpt: keptBytes === 0 ? null : Buffer.concat(kept).toString('utf8'),
    });
  };
  const cutWith = async (error: IdentityError): Promise<void> => {
    if (cut !== undefined || ended) return;
    cut = error;
    const reported = end(error);
    // Errored first, so that a read pending on the consumer's side fails now, not later.
    controller.error(error);
    await reader.cancel(error).catch(() => undefined);
    await settle(reported);
  };
  const deadline = setTimeout(() => {
    void cutWith(options.timedOut());
  }, options.deadlineMs);
  deadline.unref();

  return new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
      },
      async pull() {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          // The call's timeout signal errors the upstream body with the runtime's own error.
          if (!cancelled) await cutWith(cut ?? options.readFailed(error));
          return;
        }
        if (cancelled || cut !== undefined) return;
        if (chunk.done) {
          try {
            await end(undefined);
            controller.close();
          } catch (auditError) {
            controller.error(auditError);
          }
          return;
        }
        bytes += chunk.value.byteLength;
        if (bytes > options.maxBytes) {
          await cutWith(options.tooLarge());
          return;
        }
        if (keptBytes < excerptBytes) {
          const part = chunk.value.subarray(0, excerptBytes - keptBytes);
          kept.push(part.slice());
          keptBytes += part.byteLength;
        }
        counter?.push(chunk.value);
        controller.enqueue(chunk.value);
      },
      async cancel(reason) {
        // Reported before the upstream is cancelled: a read pending in pull() resolves as
        // "done" on cancel, and must not be taken for a complete body.
        cancelled = true;
        const reported = end(reason ?? new Error('cancelled by the caller'));
        await reader.cancel(reason).catch(() => undefined);
        await settle(reported);
      },
    },
    { highWaterMark: 0 },
  );
}

async function settle(pending: Promise<void> | undefined): Promise<void> {
  await pending?.catch(() => undefined);
}
