// A Streamable HTTP client's POST of one JSON-RPC message, without the MCP SDK: for tests that
// look at the status, the headers and the body an MCP server answers with.

const REQUEST_TIMEOUT_MS = 5_000;
/** The largest SSE prefix read before giving up. */
const MAX_SSE_BYTES = 1_000_000;

export interface RawMcpResponse {
  status: number;
  headers: Headers;
  /** JSON, the first SSE `data:` event parsed as JSON, other text as is, or undefined if empty. */
  body: unknown;
}

/** The data of the first SSE event that has any; the rest of the stream is cancelled. */
async function firstSseData(response: Response): Promise<string | undefined> {
  if (response.body === null) return undefined;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    while (buffer.length <= MAX_SSE_BYTES) {
      const { done, value } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      // Events end with a blank line; CRLF, LF and CR line ends are all valid SSE.
      const events = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      const complete = done ? events : events.slice(0, -1);
      for (const event of complete) {
        const data = event
          .split(/\r\n|\n|\r/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
        if (data.length > 0) return data.join('\n');
      }
      if (done) return undefined;
    }
    throw new Error(`SSE response: no complete data event in ${MAX_SSE_BYTES} bytes`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * POSTs one JSON-RPC message to an MCP endpoint as a Streamable HTTP client does (`accept:
 * application/json, text/event-stream`), with `token` as the bearer token when given.
 *
 * @example
 * const { status, headers } = await rawMcpPost(mcpUrl, undefined, initializeRequest);
 * expect(status).toBe(401);
 * expect(headers.get('www-authenticate')).toContain('resource_metadata=');
 */
export async function rawMcpPost(
  url: string | URL,
  token: string | undefined,
  body: unknown,
  sessionId?: string,
): Promise<RawMcpResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const contentType = response.headers.get('content-type') ?? '';
  const text = /^text\/event-stream\b/i.test(contentType)
    ? await firstSseData(response)
    : await response.text();
  const parsed =
    text === undefined || text === ''
      ? undefined
      : /^application\/json\b|^text\/event-stream\b/i.test(contentType)
        ? (JSON.parse(text) as unknown)
        : text;
  return { status: response.status, headers: response.headers, body: parsed };
}
