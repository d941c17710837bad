import { createRequire } from 'node:module';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type * as Undici from 'undici';
import {
  fetchTransport,
  type BodySource,
  type ReplyHeaders,
  type UpstreamTransport,
} from './upstream-transport.js';

const requireHere = createRequire(import.meta.url);

// Connection-level headers are the transport's own (undici refuses some of them outright), and
// the answer is not decompressed here, so an upstream must not be invited to compress it.
const TRANSPORT_HEADERS = new Set([
  'accept-encoding',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

/**
 * The default transport: undici's request API over a keep-alive pool per upstream origin.
 * `fetch` builds a WHATWG request, response and streams around every call, which cost more CPU
 * than the rest of a forwarded call (checks, credential, metering, audit) together; the pool's
 * API does the same HTTP exchange without them. Bodies it does not take as they are (a stream,
 * a Blob, form data) go through `fetch`, with fetch's own content types.
 */
export function undiciTransport(): UpstreamTransport {
  // Loaded when a passthrough is created rather than when the package is imported: an
  // application that forwards nothing does not pay for it, and one that does pays at startup
  // rather than on its first call, inside that call's timeout.
  const undici = requireHere('undici') as typeof Undici;
  const viaFetch = fetchTransport(globalThis.fetch);
  return async (url, request) => {
    const body = plainBody(request.body);
    if (body === undefined) return viaFetch(url, request);
    // The global dispatcher, read on every call, as fetch reads it: a proxy, an egress guard
    // or client certificates an application set with setGlobalDispatcher apply here too.
    const reply = await undici.getGlobalDispatcher().request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: outgoingHeaders(request.headers, body.contentType),
      body: body.bytes,
      signal: request.signal,
    });
    const empty = request.method === 'HEAD' || reply.statusCode === 204 || reply.statusCode === 304;
    if (empty) reply.body.resume();
    return {
      status: reply.statusCode,
      statusText: reply.statusText,
      headers: replyHeaders(reply.headers),
      body: empty ? null : readableSource(reply.body),
    };
  };
}

interface PlainBody {
  readonly bytes: string | Uint8Array | null;
  /** The content type fetch would give this body when the caller set none. */
  readonly contentType: string | undefined;
}

function plainBody(body: RequestInit['body']): PlainBody | undefined {
  if (body === null || body === undefined) return { bytes: null, contentType: undefined };
  if (typeof body === 'string') return { bytes: body, contentType: 'text/plain;charset=UTF-8' };
  if (body instanceof URLSearchParams) {
    return {
      bytes: body.toString(),
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
    };
  }
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), contentType: undefined };
  if (ArrayBuffer.isView(body)) {
    return {
      bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
      contentType: undefined,
    };
  }
  return undefined;
}

function outgoingHeaders(
  headers: Headers,
  contentType: string | undefined,
): Record<string, string> {
  // Without a prototype: a header named __proto__ is a header like any other.
  const result: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of headers) {
    if (!TRANSPORT_HEADERS.has(name)) result[name] = value;
  }
  // What fetch sends when the caller does not say: some gateways refuse a request without them.
  result['accept'] ??= '*/*';
  result['user-agent'] ??= 'node';
  if (contentType !== undefined && result['content-type'] === undefined) {
    result['content-type'] = contentType;
  }
  return result;
}

function replyHeaders(headers: IncomingHttpHeaders): ReplyHeaders {
  let pairs: [string, string][] | undefined;
  const flat: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') {
      flat[name] = value;
    } else if (Array.isArray(value)) {
      // Several lines of one header (Set-Cookie): kept as lines, as a fetch Response keeps them.
      pairs ??= [];
      for (const line of value) pairs.push([name, line]);
      flat[name] = value.join(', ');
    }
  }
  const init: ReplyHeaders['init'] =
    pairs === undefined
      ? flat
      : [...Object.entries(flat).filter(([name]) => !Array.isArray(headers[name])), ...pairs];
  return { get: (name) => flat[name.toLowerCase()] ?? null, init };
}

function readableSource(body: Readable): BodySource {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return {
    read: () => chunks.next() as ReturnType<BodySource['read']>,
    cancel() {
      // Destroyed rather than drained: the rest of the answer is not wanted, and the pool
      // replaces the connection. undici reports its own destruction as an error; nobody is
      // reading any more to hear it.
      body.on('error', ignore);
      body.destroy();
      return Promise.resolve();
    },
  };
}

function ignore(): void {
  // The body was cancelled; what it says about that is not news.
}
