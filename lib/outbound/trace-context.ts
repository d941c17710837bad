import { hash, randomFillSync } from 'node:crypto';
import { traceparentFrom } from '../core/request-id.js';

const TRACE_ID = /^[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ALL_ZERO = /^0+$/;

/** The trace an upstream call belongs to: the incoming request's, or one named after it. */
export interface OutboundTrace {
  readonly traceId: string;
  readonly flags: string;
}

/**
 * The trace to continue upstream. A valid incoming `traceparent` is continued (its trace id and
 * its `sampled` and `random` flags; W3C §3.2.2.5: other flags are zeroed). Otherwise the trace
 * is named after the request id, so that every call of one request is in one trace: a UUID or
 * a 32-digit id (one taken from a traceparent) is the trace id itself, any other id its hash.
 */
export function outboundTrace(
  incoming: string | readonly string[] | undefined,
  requestId: string,
): OutboundTrace {
  const parent = traceparentFrom(incoming);
  if (parent !== undefined) {
    const flags = Number.parseInt(parent.flags, 16) & 0x03;
    return { traceId: parent.traceId, flags: flags === 0 ? '00' : `0${flags}` };
  }
  const id = TRACE_ID.test(requestId)
    ? requestId
    : UUID.test(requestId)
      ? requestId.replaceAll('-', '').toLowerCase()
      : hash('sha256', requestId, 'hex').slice(0, 32);
  return { traceId: ALL_ZERO.test(id) ? hash('sha256', id, 'hex').slice(0, 32) : id, flags: '00' };
}

// Span ids are cut from a pool of random bytes refilled 512 ids at a time: one system call for
// many calls, as randomUUID() does, rather than one per call.
const POOL = Buffer.alloc(8 * 512);
let poolOffset = POOL.length;

function spanId(): string {
  if (poolOffset === POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const id = POOL.toString('hex', poolOffset, poolOffset + 8);
  poolOffset += 8;
  return id;
}

/**
 * A version-00 `traceparent` for one upstream call: the trace, and a new span id for the call
 * (each hop of a redirect is a call of its own).
 */
export function traceparentFor(trace: OutboundTrace): string {
  let span = spanId();
  // All zeros is invalid (W3C §3.2.2.4); 2^-64 per call, so one more draw is plenty.
  if (span === '0000000000000000') span = spanId();
  return `00-${trace.traceId}-${span}-${trace.flags}`;
}
