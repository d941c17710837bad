import type { IncomingMessage } from 'node:http';
import { IdentityError } from '../core/errors.js';

/** One JSON-RPC message of a POST, as far as the guard reads it. */
export interface RpcCall {
  /** The method; undefined for a response to one of the server's own requests. */
  readonly method: string | undefined;
  /** Whether it expects an answer (a request), as opposed to a notification or a response. */
  readonly isRequest: boolean;
  readonly id: string | number | undefined;
  /** What it acts on: the tool or prompt name, or the resource URI. */
  readonly target: string | undefined;
}

/** Messages of one POST; the MCP transport refuses more, and the guard reads no more. */
const MAX_MESSAGES = 100;
const MAX_TARGET_CHARS = 512;

/**
 * The calls a POST body carries: one message, or a batch (which older protocol revisions
 * allow). A body that is not JSON-RPC yields no calls; the transport then answers it with a
 * parse error, and nothing ran.
 */
export function rpcCallsOf(body: unknown): readonly RpcCall[] {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length > MAX_MESSAGES) {
    throw new IdentityError(
      'invalid_request',
      `A request may carry at most ${MAX_MESSAGES} JSON-RPC messages.`,
    );
  }
  const calls: RpcCall[] = [];
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue;
    calls.push(callOf(message as Record<string, unknown>));
  }
  return calls;
}

function callOf(message: Record<string, unknown>): RpcCall {
  const method = typeof message['method'] === 'string' ? message['method'] : undefined;
  const id = message['id'];
  const params = message['params'];
  return {
    method,
    isRequest: method !== undefined && (typeof id === 'string' || typeof id === 'number'),
    id: typeof id === 'string' || typeof id === 'number' ? id : undefined,
    target: method === undefined ? undefined : targetOf(method, params),
  };
}

function targetOf(method: string, params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const key = method.startsWith('resources/') ? 'uri' : 'name';
  const value = (params as Record<string, unknown>)[key];
  return typeof value === 'string' ? value.slice(0, MAX_TARGET_CHARS) : undefined;
}

/**
 * The request's JSON body: the one a body parser already read (`req.body`), or read here,
 * at most `maxBytes`. Hand-written rather than a body-parsing library: the guard needs only
 * this, for `application/json`, and must work without a framework.
 */
export async function jsonBodyOf(
  req: IncomingMessage & { body?: unknown },
  maxBytes: number,
): Promise<unknown> {
  // Checked even when a body parser ran: Express 4's leaves `{}` for another type, which the
  // transport could then read as JSON itself, past this guard.
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new IdentityError(
      'unsupported_media_type',
      'MCP messages are sent as Content-Type: application/json.',
    );
  }
  if (req.body !== undefined) {
    // Parsed by a body parser with limits of its own; the declared size still has to fit here.
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge(maxBytes);
    return req.body;
  }
  const text = await readBounded(req, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IdentityError('invalid_request', 'The request body is not valid JSON.');
  }
}

async function readBounded(req: IncomingMessage, maxBytes: number): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(maxBytes: number): IdentityError {
  return new IdentityError(
    'request_too_large',
    `The request body is larger than ${maxBytes} bytes; send smaller messages.`,
  );
}
