/** An OIDC user's tokens from their identity provider, kept server-side for their session. */
export interface IdpTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  /** When the access token expires, in milliseconds since the epoch. */
  readonly expiresAtMs: number;
  /** When the package's session ends: the tokens are kept until then and no longer. */
  readonly sessionEndsAtMs: number;
}

/**
 * Where users' IdP tokens live, keyed by the package's session id. They never go to the
 * browser: a stolen cookie is a session token of this application, not a token for the IdP's
 * other APIs. Several instances must share one store.
 */
export interface OidcTokenStore {
  get(sessionId: string): IdpTokens | undefined | Promise<IdpTokens | undefined>;
  /** Keeps the tokens until `tokens.sessionEndsAtMs`. */
  set(sessionId: string, tokens: IdpTokens): void | Promise<void>;
  delete(sessionId: string): void | Promise<void>;
  /**
   * Optional, for stores shared by several instances: takes the session's refresh lock for
   * `ttlMs`, returning its release, or undefined when another instance holds it. Without it,
   * two instances could refresh one session at once and spend its refresh token twice (which
   * many IdPs punish by revoking the grant).
   */
  lock?(sessionId: string, ttlMs: number): Promise<(() => Promise<void>) | undefined>;
}

/** Default: 100000 sessions in the memory token store. */
export const DEFAULT_OIDC_TOKEN_STORE_MAX_ENTRIES = 100_000;

/**
 * An {@link OidcTokenStore} in process memory, for one instance and for tests. When full of
 * live sessions it throws (sign-in answers 503) rather than drop a session's tokens.
 */
export function createMemoryOidcTokenStore(
  options: { maxEntries?: number; now?: () => number } = {},
): OidcTokenStore {
  const maxEntries = options.maxEntries ?? DEFAULT_OIDC_TOKEN_STORE_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  const entries = new Map<string, IdpTokens>();
  return {
    get(sessionId) {
      const entry = entries.get(sessionId);
      return entry === undefined || entry.sessionEndsAtMs <= now() ? undefined : entry;
    },
    set(sessionId, tokens) {
      if (!entries.has(sessionId) && entries.size >= maxEntries) {
        for (const [key, entry] of entries) if (entry.sessionEndsAtMs <= now()) entries.delete(key);
        if (entries.size >= maxEntries) {
          throw new RangeError(`the memory token store holds ${maxEntries} live sessions`);
        }
      }
      entries.set(sessionId, tokens);
    },
    delete(sessionId) {
      entries.delete(sessionId);
    },
  };
}
