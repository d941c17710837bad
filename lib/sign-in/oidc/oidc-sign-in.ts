import type * as client from 'openid-client';
import { parseOptions } from '../../core/options.js';
import type { SignInRequest } from '../../core/sign-in-request.js';
import { createOidcDiscovery } from './oidc-discovery.js';
import { oidcOptionsSchema, type OidcSignInOptions } from './oidc-options.js';
import { OidcSessionTokens } from './oidc-session-tokens.js';
import { oidcSettingsFrom } from './oidc-settings.js';
import { finishSignIn, type CompletedSignIn } from './oidc-sign-in-finish.js';
import { startSignIn, type PendingSignIn } from './oidc-sign-in-start.js';
import type { IdpTokens } from './oidc-token-store.js';

export type { CompletedSignIn } from './oidc-sign-in-finish.js';
export type { PendingSignIn } from './oidc-sign-in-start.js';

/** A configured OIDC relying party: authorization code flow with PKCE, state and nonce. */
export interface OidcSignIn {
  readonly provider: 'oidc';
  /** The registered callback URL. */
  readonly redirectUri: string;
  /** Starts a sign-in: the IdP's authorization URL and what the callback will need. */
  start(): Promise<{ url: URL; pending: PendingSignIn }>;
  /**
   * Finishes a sign-in on the callback request (plain values: no framework needed), through
   * openid-client: checks state, nonce, PKCE and the RFC 9207 `iss`, and returns the person and
   * their tokens. A request that is not an authorization response (neither `code` nor `error`)
   * is refused with `sign_in_failed` (`not_an_authorization_response`).
   */
  finish(request: SignInRequest, pending: PendingSignIn): Promise<CompletedSignIn>;
  /** Keeps a session's IdP tokens server-side until the session ends (`sessionEndsAtMs`). */
  keep(sessionId: string, tokens: IdpTokens): Promise<void>;
  /**
   * The session's current access token, refreshed when it expires within
   * `refreshBeforeExpirySec`. Throws `session_expired` when the IdP refuses the refresh (the
   * session must end) and `identity_provider_unavailable` when it cannot be reached.
   */
  accessToken(sessionId: string): Promise<string>;
  /** Forgets a session's tokens (sign-out). */
  forget(sessionId: string): Promise<void>;
  /** Discovers the IdP now, so that a wrong issuer fails at startup. */
  warm(): Promise<void>;
  /** The openid-client configuration (discovery), for token exchange. */
  configuration(): Promise<client.Configuration>;
}

/**
 * OpenID Connect sign-in for browser users (Entra ID, Okta, Auth0, Keycloak), configured in the
 * shape of a data gateway's OAuth service: `provider`, `client_id`, `client_secret`,
 * `tenant_id`, `redirect_uri`, `scopes`. The user's tokens stay on the server; the passthrough
 * gets the current access token, refreshed before it expires.
 *
 * @example
 * ```ts
 * const oidc = createOidcSignIn({ provider: 'entra', tenant_id, client_id, client_secret,
 *   redirect_uri: 'https://assistant.example.com/auth/oidc/callback' });
 * app.use('/auth/oidc', oidcRoutes({ oidc, tokens: sessions }));
 * ```
 */
export function createOidcSignIn(options: OidcSignInOptions): OidcSignIn {
  const settings = oidcSettingsFrom(parseOptions(oidcOptionsSchema(), options, 'createOidcSignIn'));
  const discover = createOidcDiscovery(settings);
  const tokens = new OidcSessionTokens(settings, discover);
  return Object.freeze({
    provider: 'oidc',
    redirectUri: settings.redirectUri,
    async start() {
      return startSignIn(settings, await discover());
    },
    async finish(request: SignInRequest, pending: PendingSignIn) {
      return finishSignIn(settings, await discover(), request, pending);
    },
    keep: (sessionId: string, idpTokens: IdpTokens) => tokens.keep(sessionId, idpTokens),
    accessToken: (sessionId: string) => tokens.accessToken(sessionId),
    forget: (sessionId: string) => tokens.forget(sessionId),
    async warm() {
      await discover();
    },
    configuration: discover,
  } satisfies OidcSignIn);
}
