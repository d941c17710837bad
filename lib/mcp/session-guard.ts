import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { getCurrentIdentity } from '../core/request-context.js';
import { storeCall } from '../core/store-call.js';
import { newSessionId, ownerOf, sessionKeyOf, type McpSessionStore } from './session-binding.js';

const SESSION_HEADER = 'mcp-session-id';
const STORE_DOWN = 'The store of MCP sessions cannot be reached; retry shortly.';

/** Binds each MCP session to the user who opened it, and holds every later request to it. */
export interface SessionBinding {
  /**
   * The transport's `sessionIdGenerator`: a new id, bound to the user of the request that
   * opens the session (the transport calls it while handling `initialize`).
   */
  generate(): string;
  /** Refuses a request on a session opened by someone else (403) or not known (404). */
  check(req: IncomingMessage, identity: Identity): Promise<void>;
  /** Forgets a session its owner ended (a successful DELETE). */
  afterResponse(req: IncomingMessage, res: ServerResponse): void;
}

export function createSessionBinding(store: McpSessionStore, idleSec: number): SessionBinding {
  // Bindings being written: a request on a new session may arrive before its store write ends.
  const pending = new Map<string, Promise<void>>();
  return {
    generate() {
      const identity = getCurrentIdentity();
      if (identity === undefined) {
        // Outside a guarded request there is nobody to bind the session to: fail closed.
        throw new Error(
          'protectMcp: sessionIdGenerator was called outside a request guarded by protectMcp(); mount the guard before the MCP transport',
        );
      }
      const sessionId = newSessionId();
      const key = sessionKeyOf(sessionId);
      const write = storeCall(
        () => store.bind(key, ownerOf(identity), idleSec),
        STORE_DOWN,
      ).finally(() => pending.delete(key));
      pending.set(key, write);
      write.catch(() => undefined);
      return sessionId;
    },
    async check(req, identity) {
      const sessionId = headerOf(req);
      if (sessionId === undefined) return;
      const key = sessionKeyOf(sessionId);
      await pending.get(key);
      const owner = await storeCall(() => store.ownerOf(key, idleSec), STORE_DOWN);
      if (owner === undefined) {
        throw new IdentityError(
          'mcp_session_unknown',
          'This MCP session is unknown or has expired; start a new session (initialize).',
        );
      }
      if (owner !== ownerOf(identity)) {
        throw new IdentityError(
          'mcp_session_forbidden',
          'This MCP session was opened by another user; start a session of your own.',
        );
      }
    },
    afterResponse(req, res) {
      const sessionId = headerOf(req);
      if (req.method !== 'DELETE' || sessionId === undefined) return;
      res.once('finish', () => {
        if (res.statusCode < 300)
          void storeCall(() => store.forget(sessionKeyOf(sessionId)), STORE_DOWN).catch(
            () => undefined,
          );
      });
    },
  };
}

function headerOf(req: IncomingMessage): string | undefined {
  const value = req.headers[SESSION_HEADER];
  const id = Array.isArray(value) ? value[0] : value;
  return id === undefined || id === '' ? undefined : id.slice(0, 256);
}
