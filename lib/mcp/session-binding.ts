import { createHash, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../core/identity.js';

/**
 * Which user opened each MCP session (`Mcp-Session-Id`), so that a session id that leaks
 * (a log line, a proxy) is of no use with another user's token. Several instances of one
 * server must share one store; each method may answer synchronously or with a promise.
 */
export interface McpSessionStore {
  /** Records the owner of a session, forgotten after `ttlSec` without use. */
  bind(sessionKey: string, owner: string, ttlSec: number): void | Promise<void>;
  /** The owner of a session (refreshing its idle time), or undefined when unknown or expired. */
  ownerOf(sessionKey: string, ttlSec: number): string | undefined | Promise<string | undefined>;
  forget(sessionKey: string): void | Promise<void>;
}

/** Sessions remembered by the in-memory store; past this, the least recently used go. */
const MAX_MEMORY_SESSIONS = 100_000;

/** The default store: this process only. */
export function createMemoryMcpSessionStore(): McpSessionStore {
  const owners = new LRUCache<string, string>({ max: MAX_MEMORY_SESSIONS, ttlAutopurge: false });
  return {
    bind(sessionKey, owner, ttlSec) {
      owners.set(sessionKey, owner, { ttl: ttlSec * 1000 });
    },
    ownerOf(sessionKey, ttlSec) {
      const owner = owners.get(sessionKey);
      if (owner !== undefined) owners.set(sessionKey, owner, { ttl: ttlSec * 1000 });
      return owner;
    },
    forget(sessionKey) {
      owners.delete(sessionKey);
    },
  };
}

/** Who a session belongs to: the person, by issuer and subject (never the token). */
export function ownerOf(identity: Identity): string {
  return `${identity.issuer} ${identity.subject}`;
}

/**
 * The key a session is stored under: a hash of its id, so that whoever reads the store (a Redis
 * dump, a debug page) learns no id they could present.
 */
export function sessionKeyOf(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

/** A new session id: 122 random bits, as the MCP specification asks of a session id. */
export function newSessionId(): string {
  return randomUUID();
}
