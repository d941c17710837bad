import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { publishTokenCacheLookup } from '../core/diagnostics.js';
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
 * conversation carries the same one) skips the signature check. Keyed by the whole token: only
 * the same token, byte for byte, is a hit. Only successes are cached.
 *
 * What it admits matters as much as what it holds. A plain LRU that sees more distinct tokens
 * than it holds, in a cycle, evicts each token just before it comes back: every request then
 * pays for the cache and gains nothing. So, once full, a token is let in only when it has been
 * seen before (a bounded set of recent misses remembers it) and the least recently used entry
 * has not been used since it came in; an entry that has been used is spared, its use count
 * halved, so that what stopped being used gives way within a few misses. A stream of tokens
 * each sent once then costs a lookup and a set entry per request, and the tokens that come
 * back keep their place.
 */
export interface VerifiedTokenCache {
  /** The identity of this token, when it verified recently; undefined otherwise. */
  get(token: string): Identity | undefined;
  /** Offers the identity of a token that just verified; kept when the cache admits it. */
  offer(token: string, digest: string, identity: Identity): void;
}

/**
 * The SHA-256 of a token (base64url): the identity's credential fingerprint, computed once per
 * verification.
 */
export function tokenDigest(token: string): string {
  return hash('sha256', token, 'base64url');
}

interface Entry {
  readonly identity: Identity;
  readonly until: number;
  /** Hits since it came in, halved each time it is spared eviction; at most MAX_USES. */
  uses: number;
}

const MAX_USES = 255;
// 96 bits of the digest: enough that two tokens never share a slot by chance, and a shared
// slot would only let a token in earlier, never serve one token for another.
const SEEN_KEY_LENGTH = 16;

export function createVerifiedTokenCache(options: {
  maxEntries: number;
  maxAgeMs: number;
  now: () => number;
}): VerifiedTokenCache {
  const entries = new LRUCache<string, Entry>({ max: options.maxEntries });
  const seen = new Set<string>();
  const { now, maxAgeMs, maxEntries } = options;

  // Whether a full cache lets this token in, evicting its least recently used entry.
  function admits(digest: string, at: number): boolean {
    const victim = lruEntry(entries);
    // An entry past its time holds its place for nothing: it gives way at once.
    if (victim === undefined || at >= victim.until) return true;
    const key = digest.slice(0, SEEN_KEY_LENGTH);
    if (!seen.has(key)) {
      // Cleared rather than trimmed when full, as TinyLFU's doorkeeper is: cheap, and what it
      // forgets only delays a token's admission by one more miss.
      if (seen.size >= maxEntries) seen.clear();
      seen.add(key);
      return false;
    }
    if (victim.uses > 0) {
      victim.uses >>= 1;
      return false;
    }
    seen.delete(key);
    return true;
  }

  return {
    get(token) {
      const entry = entries.get(token);
      // Checked against the injected clock on every hit, so `exp` and the maximum age hold
      // exactly, whatever clock the LRU itself uses.
      if (entry === undefined || now() >= entry.until) {
        if (entry !== undefined) entries.delete(token);
        publishTokenCacheLookup(false);
        return undefined;
      }
      publishTokenCacheLookup(true);
      if (entry.uses < MAX_USES) entry.uses += 1;
      return entry.identity;
    },
    offer(token, digest, identity) {
      const at = now();
      const expiresAt = identity.expiresAt === undefined ? at : identity.expiresAt * 1000;
      const until = Math.min(at + maxAgeMs, expiresAt);
      if (until <= at) return;
      if (entries.size >= maxEntries && !admits(digest, at)) return;
      entries.set(token, { identity, until, uses: 0 });
    },
  };
}

function lruEntry(entries: LRUCache<string, Entry>): Entry | undefined {
  for (const key of entries.rkeys()) return entries.peek(key, { allowStale: true });
  return undefined;
}
