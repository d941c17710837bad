/**
 * How a forwarded call reaches its upstream, below the rules that decide whether and with
 * which credential it may: one request, one answer, no redirect followed. Two transports exist:
 * undici's request API over a keep-alive pool (the default) and a `fetch` function (one given
 * in the options, or the runtime's, for request bodies the pool does not take as they are).
 */
export type UpstreamTransport = (url: URL, request: UpstreamRequest) => Promise<UpstreamReply>;

/** One request as the transports take it. */
export interface UpstreamRequest {
  readonly method: string;
  readonly headers: Headers;
  readonly body: RequestInit['body'];
  readonly signal: AbortSignal | undefined;
}

/** The answer's head, and its body to be read (or cancelled) once. */
export interface UpstreamReply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReplyHeaders;
  /** Null when the answer has no body. */
  readonly body: BodySource | null;
}

/** The answer's headers: read by name, and handed on to the caller's `Response`. */
export interface ReplyHeaders {
  get(name: string): string | null;
  readonly init: NonNullable<ResponseInit['headers']>;
}

/** A body read chunk by chunk; `cancel` releases the connection without reading the rest. */
export interface BodySource {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

/** The transport of a `fetch` function (the one in the options, or for unusual bodies). */
export function fetchTransport(fetchFn: typeof globalThis.fetch): UpstreamTransport {
  return async (url, request) => {
    const response = await fetchFn(url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: request.signal,
      ...(request.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    });
    const { headers } = response;
    return {
      status: response.status,
      statusText: response.statusText,
      headers: { get: (name) => headers.get(name), init: headers },
      body: response.body === null ? null : webStreamSource(response.body),
    };
  };
}

function webStreamSource(stream: ReadableStream<Uint8Array>): BodySource {
  const reader = stream.getReader();
  return {
    read: () => reader.read(),
    cancel: (reason) => reader.cancel(reason),
  };
}
