import * as client from 'openid-client';
import { IdentityError } from '../../core/errors.js';
import { storeCall } from '../../core/store-call.js';
import type { OidcDiscovery } from './oidc-discovery.js';
import { idpUnavailable } from './oidc-errors.js';
import type { OidcSettings } from './oidc-settings.js';
import type { IdpTokens } from './oidc-token-store.js';

/** What a refresh holds its lock for beyond the IdP's time: the store's reads and writes. */
const LOCK_MARGIN_MS = 5_000;

/** How often an instance waiting for another's refresh reads the store again. */
const REFRESH_POLL_MS = 100;

const TOKEN_STORE_DOWN =
  "The store of users' identity-provider tokens cannot be reached; retry shortly.";

/**
 * The IdP tokens of the package's sessions, kept server-side in the configured store: the
 * current access token of a session, refreshed before it expires. A store that fails is
 * `session_store_unavailable` (503).
 */
export class OidcSessionTokens {
  readonly #settings: Pick<
    OidcSettings,
    'store' | 'now' | 'refreshBeforeMs' | 'resource' | 'timeoutMs'
  >;
  readonly #discover: OidcDiscovery;
  // One refresh per session at a time: concurrent agent calls share it, and a rotating refresh
  // token is never spent twice (which many IdPs punish by revoking the whole grant).
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(settings: OidcSettings, discover: OidcDiscovery) {
    this.#settings = settings;
    this.#discover = discover;
  }

  /** Keeps a session's IdP tokens until the session ends (`sessionEndsAtMs`). */
  async keep(sessionId: string, tokens: IdpTokens): Promise<void> {
    const { store } = this.#settings;
    await storeCall(() => store.set(sessionId, tokens), TOKEN_STORE_DOWN);
  }

  /** Forgets a session's tokens (sign-out). */
  async forget(sessionId: string): Promise<void> {
    const { store } = this.#settings;
    await storeCall(() => store.delete(sessionId), TOKEN_STORE_DOWN);
  }

  /**
   * The session's current access token, refreshed when it expires within `refreshBeforeMs`.
   * Throws `session_expired` when there is none or the IdP refuses the refresh.
   */
  accessToken(sessionId: string): Promise<string> {
    // One read-and-refresh per session at a time: a read that overlapped a refresh would
    // otherwise come back with a refresh token already spent, and spend it again (which many
    // IdPs punish by revoking the grant). Several instances need a store that locks.
    let pending = this.#inflight.get(sessionId);
    if (pending === undefined) {
      pending = this.#readOrRefresh(sessionId).finally(() => this.#inflight.delete(sessionId));
      this.#inflight.set(sessionId, pending);
    }
    return pending;
  }

  async #readOrRefresh(sessionId: string): Promise<string> {
    const { store, now, refreshBeforeMs } = this.#settings;
    const current = await storeCall(() => store.get(sessionId), TOKEN_STORE_DOWN);
    if (current === undefined) throw sessionExpired('no_tokens');
    if (current.expiresAtMs - refreshBeforeMs > now()) return current.accessToken;
    return this.#refresh(sessionId, current);
  }

  /**
   * Refreshes under the store's lock when it has one (several instances): the instance that
   * takes it refreshes, the others wait for the tokens it stores.
   */
  async #refresh(sessionId: string, current: IdpTokens): Promise<string> {
    const { store, timeoutMs } = this.#settings;
    if (store.lock === undefined) return this.#refreshNow(sessionId, current);
    // Long enough for discovery and the grant (each up to timeoutMs) and the store's own reads
    // and writes around them: a lock that expired mid-refresh would let a second one start.
    const lockMs = timeoutMs * 2 + LOCK_MARGIN_MS;
    const release = await storeCall(() => store.lock?.(sessionId, lockMs), TOKEN_STORE_DOWN);
    if (release === undefined) return this.#refreshedElsewhere(sessionId, current, lockMs);
    try {
      // Another instance may have refreshed between the read and the lock.
      const latest = await storeCall(() => store.get(sessionId), TOKEN_STORE_DOWN);
      if (latest === undefined) throw sessionExpired('no_tokens');
      if (latest.accessToken !== current.accessToken) return latest.accessToken;
      return await this.#refreshNow(sessionId, latest);
    } finally {
      // An expired lock needs no release; one that fails to release expires on its own.
      await release().catch(() => undefined);
    }
  }

  /** Waits (bounded by the lock's life) for the refresh another instance is making. */
  async #refreshedElsewhere(sessionId: string, current: IdpTokens, lockMs: number) {
    const { store } = this.#settings;
    for (let waited = 0; waited < lockMs; waited += REFRESH_POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, REFRESH_POLL_MS));
      const latest = await storeCall(() => store.get(sessionId), TOKEN_STORE_DOWN);
      if (latest === undefined) throw sessionExpired('no_tokens');
      if (latest.accessToken !== current.accessToken) return latest.accessToken;
    }
    throw idpUnavailable('refresh', new Error('another instance did not finish the refresh'));
  }

  async #refreshNow(sessionId: string, current: IdpTokens): Promise<string> {
    if (current.refreshToken === undefined) {
      throw sessionExpired('no_refresh_token');
    }
    const { store, now, resource } = this.#settings;
    const config = await this.#discover();
    let response;
    try {
      response = await client.refreshTokenGrant(config, current.refreshToken, {
        ...(resource === undefined ? {} : { resource }),
      });
    } catch (error) {
      // Only `invalid_grant` says the user's grant is over. Anything else (a rotated client
      // secret, rate limiting, an IdP outage) is ours or the IdP's to fix: the session stays.
      if ((error as { error?: unknown }).error !== 'invalid_grant') {
        throw idpUnavailable('refresh', error);
      }
      await storeCall(() => store.delete(sessionId), TOKEN_STORE_DOWN);
      throw sessionExpired('refresh_refused', error);
    }
    const next = {
      ...idpTokensFrom(response, now(), current.refreshToken),
      sessionEndsAtMs: current.sessionEndsAtMs,
    };
    await storeCall(() => store.set(sessionId, next), TOKEN_STORE_DOWN);
    return next.accessToken;
  }
}

/**
 * The tokens of a token-endpoint response, as kept: the access token's expiry made absolute
 * (300 seconds when the IdP does not say), and the previous refresh token kept when the IdP
 * does not rotate it.
 */
export function idpTokensFrom(
  response: client.TokenEndpointResponse,
  nowMs: number,
  previousRefresh?: string,
): Omit<IdpTokens, 'sessionEndsAtMs'> {
  const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 300;
  const refreshToken = response.refresh_token ?? previousRefresh;
  return {
    accessToken: response.access_token,
    ...(refreshToken === undefined ? {} : { refreshToken }),
    expiresAtMs: nowMs + expiresIn * 1000,
  };
}

function sessionExpired(reason: string, cause?: unknown): IdentityError {
  return new IdentityError(
    'session_expired',
    'Your sign-in with the identity provider has ended and could not be renewed; sign in again.',
    { ...(cause === undefined ? {} : { cause }), details: { reason } },
  );
}
