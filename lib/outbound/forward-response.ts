import type { ForwardAudit } from './forward-audit.js';
import { meterBody, readMetered, type MeterOptions } from './metered-body.js';
import { bodyTimedOut, callFailure, tooLarge } from './upstream-errors.js';
import type { Upstream } from './upstream.js';
import type { UpstreamReply } from './upstream-transport.js';

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);
/** Of an error response, this much is kept for the audit event (which bounds it again). */
const ERROR_EXCERPT_BYTES = 1_024;
/** Bodies of at most this declared length are read whole; see forwardResponse. */
const BUFFERED_BODY_MAX_BYTES = 65_536;

/**
 * The upstream's response as the caller gets it: the same status and headers, and a body that
 * is metered (size, deadline, records) and audited when it ends. A body declared too large is
 * refused before it is read.
 */
export function forwardResponse(
  response: UpstreamReply,
  call: {
    upstream: Upstream;
    record: ForwardAudit;
    /** Time left of the call's `timeoutMs` for the body. */
    deadlineMs: number;
    callerSignal: AbortSignal | undefined;
    /** Values to blank out of an error excerpt: an upstream may echo what it was sent. */
    secrets: readonly (string | undefined)[];
  },
): Promise<Response> | Response {
  const { upstream, record } = call;
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > upstream.maxResponseBytes) {
    void response.body?.cancel();
    throw tooLarge(upstream);
  }
  const init = {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers.init,
  };
  if (
    response.body === null ||
    record.method === 'HEAD' ||
    NULL_BODY_STATUSES.has(response.status)
  ) {
    void response.body?.cancel();
    const pending = record.record({ status: response.status });
    const empty = new Response(null, init);
    return pending === undefined ? empty : pending.then(() => empty);
  }
  const failed = response.status >= 400;
  const meter: MeterOptions = {
    maxBytes: upstream.maxResponseBytes,
    countRecords: !failed && /\bjson\b/i.test(response.headers.get('content-type') ?? ''),
    deadlineMs: Math.max(1, call.deadlineMs),
    excerptBytes: failed ? ERROR_EXCERPT_BYTES : 0,
    tooLarge: () => tooLarge(upstream),
    timedOut: () => bodyTimedOut(upstream),
    readFailed: (error) => callFailure(error, upstream, call.callerSignal),
    onEnd: (report) =>
      record.record({
        status: response.status,
        report:
          report.excerpt === null
            ? report
            : { ...report, excerpt: redact(report.excerpt, call.secrets) },
      }),
  };
  // A small body of declared length is read whole before the response is handed over: one
  // stream fewer between the upstream and the caller, which on Node 20 cost more than the
  // rest of the call. Larger or open-ended bodies stream through the meter as they arrive.
  if (declared > 0 && declared <= BUFFERED_BODY_MAX_BYTES) {
    return readMetered(response.body, meter).then((bytes) => new Response(bytes, init));
  }
  return new Response(meterBody(response.body, meter), init);
}

function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4)
      result = result.replaceAll(secret, '[redacted]');
  }
  return result;
}
