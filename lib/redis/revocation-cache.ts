import { LRUCache } from 'lru-cache';

/**
 * A short local memory of "this session is not signed out", so that not every request with a
 * session token waits for Redis. The trade-off, and why it is off by default: a sign-out made
 * through another instance takes up to `ttlMs` to be seen here (one made here is seen at once).
 */
export interface RevocationCache {
  /** true (revoked, known here), false (checked not revoked within ttlMs), undefined (ask). */
  lookup(sessionId: string): boolean | undefined;
  notRevoked(sessionId: string): void;
  revoked(sessionId: string): void;
}

export function createRevocationCache(ttlMs: number, maxEntries = 100_000): RevocationCache {
  const notRevoked = new LRUCache<string, true>({ max: maxEntries, ttl: ttlMs });
  // Revocation is final: remembered here for as long as room allows, whatever ttlMs says.
  const revoked = new LRUCache<string, true>({ max: maxEntries });
  return {
    lookup: (sessionId) =>
      revoked.has(sessionId) ? true : notRevoked.has(sessionId) ? false : undefined,
    notRevoked(sessionId) {
      notRevoked.set(sessionId, true);
    },
    revoked(sessionId) {
      notRevoked.delete(sessionId);
      revoked.set(sessionId, true);
    },
  };
}
