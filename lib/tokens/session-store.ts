/**
 * Where sign-outs and used refresh tokens are remembered. Several instances of an application
 * must share one store (Redis, a database table), or a sign-out on one instance is not seen by
 * the others. Entries are only needed until `untilSec`, when every token they concern has
 * expired anyway.
 */
export interface SessionStore {
  /** Ends a session: its tokens are refused from now on (until `untilSec`, seconds since epoch). */
  revokeSession(sessionId: string, untilSec: number): void | Promise<void>;
  /** Whether the session was ended. Called on every request that carries a session token. */
  isSessionRevoked(sessionId: string): boolean | Promise<boolean>;
  /**
   * Records the single use of a refresh token (its `jti`), atomically. Returns false when the
   * token was used before: a replay, which ends the whole session.
   */
  consumeRefreshToken(tokenId: string, untilSec: number): boolean | Promise<boolean>;
}

/** Default: 100000 sign-outs, and as many used refresh tokens, in the memory store. */
export const DEFAULT_SESSION_STORE_MAX_ENTRIES = 100_000;

/**
 * A {@link SessionStore} in process memory: right for one instance, and for tests. Bounded: when
 * full of unexpired entries it throws (refresh and sign-out answer 503) rather than forget a
 * sign-out, which would bring a revoked session back to life.
 *
 * @example
 * ```ts
 * const sessions = createSessionTokens({ ..., store: createMemorySessionStore() });
 * ```
 */
export function createMemorySessionStore(
  options: { maxEntries?: number; now?: () => number } = {},
): SessionStore {
  const maxEntries = options.maxEntries ?? DEFAULT_SESSION_STORE_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  const revoked = new Map<string, number>();
  const consumed = new Map<string, number>();

  // Used refresh tokens are bounded; when full, refresh answers 503. Sign-outs (and sessions
  // ended for a replayed refresh token) get ten times the room, because forgetting or refusing
  // one would leave a session alive that its owner, or this package, meant to end.
  function makeRoom(map: Map<string, number>): void {
    const limit = map === revoked ? maxEntries * 10 : maxEntries;
    if (map.size < limit) return;
    const nowSec = now() / 1000;
    for (const [key, until] of map) if (until <= nowSec) map.delete(key);
    if (map.size >= limit) {
      throw new RangeError(
        `the memory session store holds ${limit} unexpired ${map === revoked ? 'sign-outs' : 'used refresh tokens'}; use a shared store or raise maxEntries`,
      );
    }
  }

  return {
    revokeSession(sessionId, untilSec) {
      if (!revoked.has(sessionId)) makeRoom(revoked);
      revoked.set(sessionId, Math.max(untilSec, revoked.get(sessionId) ?? 0));
    },
    isSessionRevoked(sessionId) {
      const until = revoked.get(sessionId);
      return until !== undefined && until > now() / 1000;
    },
    consumeRefreshToken(tokenId, untilSec) {
      if (consumed.has(tokenId)) return false;
      makeRoom(consumed);
      consumed.set(tokenId, untilSec);
      return true;
    },
  };
}
