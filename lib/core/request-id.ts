import { randomUUID } from 'node:crypto';

// A caller-supplied id is echoed into logs and responses, so it is accepted only when short
// and made of characters that cannot break a log line or a header.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The id that ties a request's audit events together: the caller's `X-Request-Id` when it is
 * well-formed, else the trace id of a W3C `traceparent`, else a new UUID.
 */
export function requestIdFrom(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  generate: () => string = randomUUID,
): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && SAFE_REQUEST_ID.test(given)) return given;
  const traceparent = headers['traceparent'];
  if (typeof traceparent === 'string') {
    const traceId = TRACEPARENT.exec(traceparent.trim())?.[1];
    if (traceId !== undefined && !/^0+$/.test(traceId)) return traceId;
  }
  return generate();
}
