import { randomUUID } from 'node:crypto';

// A caller-supplied id is echoed into logs and responses, so it is accepted only when short
// and made of characters that cannot break a log line or a header.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// W3C Trace Context §3.2: version-traceid-parentid-flags, lower-case hex only. A version after
// 00 begins the same way and may carry more fields after a '-' (§4.3: parse what 00 defines).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/** The part of a W3C `traceparent` this package continues: its trace, and the caller's flags. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span, 16 lower-case hex digits, not all zero. */
  readonly parentId: string;
  /** 2 hex digits; bit 0 is `sampled`. */
  readonly flags: string;
}

/**
 * Reads a W3C `traceparent` header value, or undefined when it is not valid: version `ff`, a
 * version 00 with anything after its flags, upper-case or missing digits, an all-zero trace id
 * or parent id (§3.2.2). An invalid value starts a new trace; it is never passed on.
 *
 * @example
 * ```ts
 * traceparentFrom('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' }
 * ```
 */
export function traceparentFrom(value: unknown): TraceParent | undefined {
  // Two traceparent headers arrive joined by a comma, which fails the pattern (§3.2: ignore).
  if (typeof value !== 'string' || value.length > 512) return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(parentId)) return undefined;
  return { traceId, parentId, flags };
}

/**
 * The id that ties a request's audit events together: the caller's `X-Request-Id` when it is
 * well-formed, else the trace id of a valid W3C `traceparent`, else a new UUID.
 */
export function requestIdFrom(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  generate: () => string = randomUUID,
): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && SAFE_REQUEST_ID.test(given)) return given;
  return traceparentFrom(headers['traceparent'])?.traceId ?? generate();
}
