import { IdentityError } from '../core/errors.js';
import { JsonRecordCounter } from './record-counter.js';

/** What a metered body reports once, when it ends, fails, is cancelled or is left unread. */
export interface BodyReport {
  readonly bytes: number;
  readonly records: number | null;
  readonly error: unknown;
}

/**
 * Passes an upstream body through unchanged while enforcing a size limit and counting JSON
 * records, then calls `onEnd` exactly once. If `onEnd` rejects (a fail-closed audit), the
 * stream errors instead of closing, so the caller never takes the data as complete. A body
 * still unread at `deadlineMs` is cancelled and reported, so a caller that ignores the body
 * neither skips the audit nor holds the connection.
 */
export function meterBody(
  body: ReadableStream<Uint8Array>,
  options: {
    maxBytes: number;
    countRecords: boolean;
    deadlineMs: number;
    onEnd: (report: BodyReport) => Promise<void> | undefined;
  },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const counter = options.countRecords ? new JsonRecordCounter() : undefined;
  let bytes = 0;
  let ended = false;
  let cancelled = false;
  const end = (error: unknown): Promise<void> | undefined => {
    if (ended) return undefined;
    ended = true;
    clearTimeout(deadline);
    return options.onEnd({
      bytes,
      records: error === undefined ? (counter?.result() ?? null) : null,
      error,
    });
  };
  const deadline = setTimeout(() => {
    const error = new IdentityError(
      'upstream_timeout',
      'The data API response was not read before the call timed out.',
    );
    void settle(end(error));
    void reader.cancel(error).catch(() => undefined);
  }, options.deadlineMs);
  deadline.unref();

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          await settle(end(error));
          if (!cancelled) controller.error(error);
          return;
        }
        if (cancelled) return;
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
          const error = new IdentityError(
            'upstream_response_too_large',
            `The data API's response is larger than ${options.maxBytes} bytes; ask for fewer records (a smaller limit or a narrower filter).`,
          );
          const reported = end(error);
          await reader.cancel(error).catch(() => undefined);
          await settle(reported);
          controller.error(error);
          return;
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
