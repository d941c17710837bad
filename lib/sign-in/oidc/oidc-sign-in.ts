import * as client from 'openid-client';
import { Strategy as OidcStrategy } from 'openid-client/passport';
import passport from 'passport';
import { IdentityError, isIdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { parseOptions } from '../../core/options.js';
import { authorizationParametersFor } from './oidc-authorization-parameters.js';
import { idpUnavailable, isIdpUnreachable, signInFailed, signInRefused } from './oidc-errors.js';
import { oidcFailure } from './oidc-failure-reason.js';
import { fetchWithTimeout } from './oidc-fetch.js';
import { createOidcIdentityMapper } from './oidc-identity.js';
import {
  DEFAULT_OIDC_TIMEOUT_MS,
  DEFAULT_REFRESH_BEFORE_EXPIRY_SEC,
  oidcOptionsSchema,
  PROVIDER_PRESETS,
  type OidcSignInOptions,
} from './oidc-options.js';
import {
  createMemoryOidcTokenStore,
  type IdpTokens,
  type OidcTokenStore,
} from './oidc-token-store.js';
import { storeCall } from '../../core/store-call.js';
import type { SignInHttpRequest, SignInHttpResponse } from '../../core/sign-in-http.js';

const TOKEN_STORE_DOWN =
  "The store of users' identity-provider tokens cannot be reached; retry shortly.";

/** What the browser must bring back to finish a sign-in: kept in a sealed cookie meanwhile. */
export interface PendingSignIn {
  readonly codeVerifier: string;
  readonly state: string;
  readonly nonce: string;
}

/** A person signed in at the IdP, and the tokens the IdP gave for them. */
export interface CompletedSignIn {
  readonly identity: Identity;
  /** The IdP's tokens; `sessionEndsAtMs` is set when the package's session is known. */
  readonly tokens: Omit<IdpTokens, 'sessionEndsAtMs'>;
}

/** A configured OIDC relying party: authorization code flow with PKCE, state and nonce. */
export interface OidcSignIn {
  readonly provider: 'oidc';
  /** The registered callback URL. */
  readonly redirectUri: string;
  /** Starts a sign-in: the IdP's authorization URL and what the callback will need. */
  start(): Promise<{ url: URL; pending: PendingSignIn }>;
  /**
   * Finishes a sign-in on the callback request, through passport and openid-client: checks
   * state, nonce, PKCE and the RFC 9207 `iss`, and returns the person and their tokens.
   */
  finish(
    req: SignInHttpRequest,
    res: SignInHttpResponse,
    pending: PendingSignIn,
  ): Promise<CompletedSignIn>;
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
  const parsed = parseOptions(oidcOptionsSchema, options, 'createOidcSignIn');
  const issuer = issuerOf(parsed);
  const now = parsed.now ?? Date.now;
  const store: OidcTokenStore = parsed.tokenStore ?? createMemoryOidcTokenStore({ now });
  const scopes = [
    ...new Set(['openid', ...(parsed.scopes ?? ['profile', 'email', 'offline_access'])]),
  ];
  const refreshBeforeMs =
    (parsed.refreshBeforeExpirySec ?? DEFAULT_REFRESH_BEFORE_EXPIRY_SEC) * 1000;
  const timeoutMs = parsed.timeoutMs ?? DEFAULT_OIDC_TIMEOUT_MS;
  const authorizationParameters = authorizationParametersFor({
    provider: parsed.provider,
    scopes,
    parameters: parsed.authorizationParameters,
  });
  const maxAge = authorizationParameters['max_age'];
  const mapper = createOidcIdentityMapper({
    preset: PROVIDER_PRESETS[parsed.provider],
    mapping: parsed.mapping,
    trustEmailWithoutVerifiedClaim: parsed.dangerouslyTrustEmailWithoutVerifiedClaim ?? false,
  });
  // One refresh per session at a time: concurrent agent calls share it, and a rotating refresh
  // token is never spent twice (which many IdPs punish by revoking the whole grant).
  const inflight = new Map<string, Promise<string>>();
  let discovered: Promise<{ config: client.Configuration; strategy: OidcStrategy }> | undefined;
  // A private passport instance: the application's own passport setup is left alone.
  const authenticator = new passport.Passport();

  function discover() {
    discovered ??= (async () => {
      const url = new URL(issuer);
      // openid-client counts its timeout in whole seconds: it stays as an outer bound, and the
      // custom fetch holds every request to `timeoutMs`.
      const timeout = Math.ceil(timeoutMs / 1000);
      const config = await client.discovery(
        url,
        parsed.client_id,
        undefined,
        client.ClientSecretBasic(parsed.client_secret),
        {
          timeout,
          [client.customFetch]: fetchWithTimeout(timeoutMs),
          // Plain HTTP only on the loopback interface (development, tests): `issuer` was checked.
          // eslint-disable-next-line @typescript-eslint/no-deprecated -- loopback HTTP only, see above
          ...(url.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
        },
      );
      config.timeout = timeout;
      // openid-client 6 checks the ID token's claims but not its signature when it comes from
      // the token endpoint (OIDC Core §3.1.3.7 lets TLS stand in for it). This package does not
      // lean on that: a token endpoint reached through a TLS-intercepting proxy, a poisoned
      // DNS entry or plain HTTP in development could otherwise sign anyone in. The signature is
      // verified against the IdP's JWKS (`jwks_uri`), with the algorithm the client
      // registration or the IdP's metadata names (RS256 when neither does).
      client.enableNonRepudiationChecks(config);
      const strategy = new OidcStrategy(
        { config, callbackURL: parsed.redirect_uri, scope: scopes.join(' '), sessionKey: 'oidc' },
        (tokens, done) => {
          try {
            const claims = tokens.claims();
            if (claims === undefined) throw signInFailed('id_token_missing');
            done(null, { tokens, identity: mapper.toIdentity(claims) });
          } catch (error) {
            done(error);
          }
        },
      );
      authenticator.use('oidc', strategy);
      return { config, strategy };
    })().catch((error: unknown) => {
      // A failed discovery is retried on the next request rather than remembered.
      discovered = undefined;
      throw isIdpUnreachable(error)
        ? idpUnavailable('discovery', error)
        : idpUnavailable('discovery', error);
    });
    return discovered;
  }

  function idpTokens(
    response: client.TokenEndpointResponse,
    previousRefresh?: string,
  ): Omit<IdpTokens, 'sessionEndsAtMs'> {
    const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 300;
    const refreshToken = response.refresh_token ?? previousRefresh;
    return {
      accessToken: response.access_token,
      ...(refreshToken === undefined ? {} : { refreshToken }),
      expiresAtMs: now() + expiresIn * 1000,
    };
  }

  async function refresh(sessionId: string, current: IdpTokens): Promise<string> {
    if (current.refreshToken === undefined) {
      throw sessionExpired('no_refresh_token');
    }
    const { config } = await discover();
    let response;
    try {
      response = await client.refreshTokenGrant(config, current.refreshToken, {
        ...(parsed.resource === undefined ? {} : { resource: parsed.resource }),
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
      ...idpTokens(response, current.refreshToken),
      sessionEndsAtMs: current.sessionEndsAtMs,
    };
    await storeCall(() => store.set(sessionId, next), TOKEN_STORE_DOWN);
    return next.accessToken;
  }

  return Object.freeze({
    provider: 'oidc',
    redirectUri: parsed.redirect_uri,
    async start() {
      const { config } = await discover();
      const pending: PendingSignIn = {
        codeVerifier: client.randomPKCECodeVerifier(),
        state: client.randomState(),
        nonce: client.randomNonce(),
      };
      const url = client.buildAuthorizationUrl(config, {
        // First, so that nothing below can be overridden (reserved names are refused anyway).
        ...authorizationParameters,
        redirect_uri: parsed.redirect_uri,
        scope: scopes.join(' '),
        code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
        ...(parsed.resource === undefined ? {} : { resource: parsed.resource }),
      });
      return { url, pending };
    },
    async finish(req, res, pending) {
      await discover();
      // openid-client's passport strategy reads what the sign-in started with from
      // `req.session`; here that comes from the sealed cookie, not from a server session.
      (req as SignInHttpRequest & { session?: unknown }).session = {
        oidc: {
          code_verifier: pending.codeVerifier,
          state: pending.state,
          nonce: pending.nonce,
          // openid-client then checks the ID token's auth_time against it.
          ...(maxAge === undefined ? {} : { max_age: Number(maxAge) }),
        },
      };
      const result = await new Promise<SignedInUser>((resolve, reject) => {
        const handler = authenticator.authenticate(
          'oidc',
          {
            session: false,
            ...(parsed.resource === undefined ? {} : { resource: parsed.resource }),
          },
          (error: unknown, user: unknown, info: unknown) => {
            if (isIdentityError(error)) {
              reject(error);
            } else if (error !== null && error !== undefined) {
              reject(
                isIdpUnreachable(error) ? idpUnavailable('token', error) : signInRefused(error),
              );
            } else if (typeof user !== 'object' || user === null) {
              // passport's fail(): the user denied consent at the IdP (`error=access_denied`),
              // or the pending sign-in carried no PKCE verifier.
              const failure = oidcFailure(info);
              reject(
                failure.reason === 'invalid_response'
                  ? signInFailed('pending_sign_in_invalid')
                  : signInFailed(failure.reason, undefined, failure.oauthError),
              );
            } else {
              resolve(user as SignedInUser);
            }
          },
        ) as (
          req: SignInHttpRequest,
          res: SignInHttpResponse,
          next: (error?: unknown) => void,
        ) => void;
        handler(req, res, reject);
      });
      return { identity: result.identity, tokens: idpTokens(result.tokens) };
    },
    async keep(sessionId, tokens) {
      await storeCall(() => store.set(sessionId, tokens), TOKEN_STORE_DOWN);
    },
    accessToken(sessionId) {
      // One read-and-refresh per session at a time: a read that overlapped a refresh would
      // otherwise come back with a refresh token already spent, and spend it again (which many
      // IdPs punish by revoking the grant). Several instances need a store that locks.
      let pending = inflight.get(sessionId);
      if (pending === undefined) {
        pending = (async () => {
          const current = await storeCall(() => store.get(sessionId), TOKEN_STORE_DOWN);
          if (current === undefined) throw sessionExpired('no_tokens');
          if (current.expiresAtMs - refreshBeforeMs > now()) return current.accessToken;
          return refresh(sessionId, current);
        })().finally(() => inflight.delete(sessionId));
        inflight.set(sessionId, pending);
      }
      return pending;
    },
    async forget(sessionId) {
      await storeCall(() => store.delete(sessionId), TOKEN_STORE_DOWN);
    },
    async warm() {
      await discover();
    },
    async configuration() {
      return (await discover()).config;
    },
  } satisfies OidcSignIn);
}

interface SignedInUser {
  readonly tokens: client.TokenEndpointResponse;
  readonly identity: Identity;
}

function sessionExpired(reason: string, cause?: unknown): IdentityError {
  return new IdentityError(
    'session_expired',
    'Your sign-in with the identity provider has ended and could not be renewed; sign in again.',
    { ...(cause === undefined ? {} : { cause }), details: { reason } },
  );
}

function issuerOf(parsed: ReturnType<typeof oidcOptionsSchema.parse>): string {
  if (parsed.issuer !== undefined) return parsed.issuer;
  if (parsed.provider === 'entra' && parsed.tenant_id !== undefined) {
    return `https://login.microsoftonline.com/${parsed.tenant_id}/v2.0`;
  }
  throw new TypeError(
    parsed.provider === 'entra'
      ? 'option "tenant_id": give the Entra ID tenant (or "issuer")'
      : 'option "issuer": give the identity provider\'s issuer URL, for discovery',
  );
}
