import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from '../core/identity.js';

/** Default: 10000 verified tokens at most. */
export const DEFAULT_TOKEN_CACHE_MAX_ENTRIES = 10_000;
/**
 * Default: 30000 (30 seconds). A cached verification is reused for at most this long, and never
 * past the token's `exp`, so a key removed from the JWKS, a revoked session or a changed role
 * mapping takes effect within this time.
 */
export const DEFAULT_TOKEN_CACHE_MAX_AGE_MS = 30_000;

/**
 * Remembers identities of tokens that verified, so a token sent again (every message of an AI
 * conversation carries the same one) skips the signature check. Keyed by {@link tokenDigest},
 * a SHA-256 of the whole token: a one-byte change is a miss, and the tokens themselves are not
 * kept as keys. Only successes are cached.
 */
export interface VerifiedTokenCache {
  get(digest: string): Identity | undefined;
  set(digest: string, identity: Identity): void;
}

/**
 * The SHA-256 of a token (base64url): the cache's key, and the identity's credential
 * fingerprint, computed once per request.
 */
export function tokenDigest(token: string): string {
  return hash('sha256', token, 'base64url');
}

export function createVerifiedTokenCache(options: {
  maxEntries: number;
  maxAgeMs: number;
  now: () => number;
}): VerifiedTokenCache {
  const entries = new LRUCache<string, { identity: Identity; until: number }>({
    max: options.maxEntries,
  });
  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      // Checked against the injected clock on every hit, so `exp` and the maximum age hold
      // exactly, whatever clock the LRU itself uses.
      if (options.now() >= entry.until) {
        entries.delete(key);
        return undefined;
      }
      return entry.identity;
    },
    set(key, identity) {
      const now = options.now();
      const expiresAt = identity.expiresAt === undefined ? now : identity.expiresAt * 1000;
      const until = Math.min(now + options.maxAgeMs, expiresAt);
      if (until > now) entries.set(key, { identity, until });
    },
  };
}
