import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import type { z } from 'zod';
import { decodeJwt } from 'jose';
import { IdentityError, isIdentityError } from '../core/errors.js';
import { credentialOf, type Identity } from '../core/identity.js';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { idpUnavailable, isIdpUnreachable } from '../sign-in/oidc/oidc-errors.js';
import type { OidcSignIn } from '../sign-in/oidc/oidc-sign-in.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import type { CredentialStrategy, Upstream } from './upstream.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Exchanged tokens are reused until this long before they expire. */
const EXPIRY_MARGIN_MS = 30_000;

const exchangeSchema = lazySchema((z) =>
  z.strictObject({
    /** The relying party whose client and IdP perform the exchange (`createOidcSignIn()`). */
    oidc: objectWithMethods<Pick<OidcSignIn, 'configuration' | 'accessToken'>>(
      ['configuration', 'accessToken'],
      'must be the object createOidcSignIn() returns',
    ),
    /**
     * Default: `token-exchange` (RFC 8693, with `audience` set to the upstream's). `entra-obo` uses
     * Entra ID's on-behalf-of grant, with scope `<upstream audience>/.default`.
     */
    grant: z.enum(['token-exchange', 'entra-obo']).optional(),
    /** The token service, so that a session whose IdP grant has ended is ended here too. */
    tokens: objectWithMethods<Pick<SessionTokens, 'revoke'>>(
      ['revoke'],
      'must be the object createSessionTokens() returns',
    ).optional(),
    /** Default: 1000 exchanged tokens cached (per user token and upstream). */
    cacheMaxEntries: z.number().int().min(0).max(100_000).optional(),
    /**
     * A cache shared by several instances (`createRedisStores().exchangedTokens`), instead of
     * this instance's memory. A cache that fails is read as a miss: the token is exchanged again.
     */
    cache: objectWithMethods<ExchangedTokenCache>(
      ['get', 'set'],
      'must be an exchanged-token cache: { get, set }',
    ).optional(),
  }),
);

/** A token obtained by exchange, and when it expires (milliseconds since the epoch). */
export interface ExchangedToken {
  readonly token: string;
  readonly expiresAtMs: number;
}

/** Where exchanged tokens are reused from, keyed by a hash of the user's token and the upstream. */
export interface ExchangedTokenCache {
  get(key: string): ExchangedToken | undefined | Promise<ExchangedToken | undefined>;
  set(key: string, token: ExchangedToken): void | Promise<void>;
}

/** Options of {@link exchangeStrategy}. */
export type ExchangeStrategyOptions = z.input<ReturnType<typeof exchangeSchema>>;

/**
 * `exchange`: trades the user's token at their identity provider for one issued for the
 * upstream (RFC 8693 token exchange, or Entra ID's on-behalf-of grant), so that the upstream
 * receives a token meant for it, still about the user. The user's token is their OIDC session's
 * access token, or the bearer token the request came with. Results are cached per user token and
 * upstream until shortly before they expire. Service identities are refused before any exchange:
 * an app-only token never becomes a user's.
 *
 * @example
 * ```ts
 * strategy: exchangeStrategy({ oidc, grant: 'entra-obo' })
 * ```
 */
export function exchangeStrategy(options: ExchangeStrategyOptions): CredentialStrategy {
  const parsed = parseOptions(exchangeSchema(), options, 'exchangeStrategy');
  const grant = parsed.grant ?? 'token-exchange';
  const cache = parsed.cache ?? memoryCache(parsed.cacheMaxEntries ?? 1_000);

  return Object.freeze({
    name: 'exchange',
    async credentialFor(identity, upstream) {
      if (identity.kind !== 'user') {
        throw new IdentityError(
          'service_account_refused',
          "Only a person's token is exchanged; this identity is a service account.",
          { details: { rule: identity.serviceAccountRule ?? null, strategy: 'exchange' } },
        );
      }
      const subject = await subjectToken(parsed, identity);
      const key = `${createHash('sha256').update(subject).digest('base64url')} ${upstream.audience}`;
      const cached = await readCache(cache, key);
      if (cached !== undefined && cached.expiresAtMs - EXPIRY_MARGIN_MS > Date.now()) {
        return cached.token;
      }
      const config = await parsed.oidc.configuration();
      const response = await requestExchange(config, grant, subject, upstream);
      const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : 60;
      const exchanged = {
        token: response.access_token,
        expiresAtMs: Date.now() + expiresIn * 1000,
      };
      await writeCache(cache, key, exchanged);
      return response.access_token;
    },
  } satisfies CredentialStrategy);
}

type ParsedExchangeOptions = z.output<ReturnType<typeof exchangeSchema>>;

function memoryCache(maxEntries: number): ExchangedTokenCache | undefined {
  if (maxEntries === 0) return undefined;
  const entries = new LRUCache<string, ExchangedToken>({ max: maxEntries });
  return { get: (key) => entries.get(key), set: (key, token) => void entries.set(key, token) };
}

// The cache only saves exchanges: one that cannot answer is a miss, never a refused call.
async function readCache(cache: ExchangedTokenCache | undefined, key: string) {
  try {
    return await cache?.get(key);
  } catch {
    return undefined;
  }
}

async function writeCache(
  cache: ExchangedTokenCache | undefined,
  key: string,
  token: ExchangedToken,
): Promise<void> {
  try {
    await cache?.set(key, token);
  } catch {
    // A miss next time; see readCache.
  }
}

// The user's token to exchange: their OIDC session's access token, or the bearer token the
// request came with when that IdP issued it.
async function subjectToken(parsed: ParsedExchangeOptions, identity: Identity): Promise<string> {
  if (identity.sessionId !== undefined && identity.provider === 'oidc') {
    try {
      return await parsed.oidc.accessToken(identity.sessionId);
    } catch (error) {
      if (isIdentityError(error) && error.code === 'session_expired') {
        await parsed.tokens?.revoke(identity.sessionId).catch(() => undefined);
      }
      throw error;
    }
  }
  // Only a token this IdP issued is sent to it: never this package's own session token, nor
  // a token of another trusted issuer (each would hand a credential to a party it was not
  // issued for).
  const credential = credentialOf(identity);
  const idpIssuer = (await parsed.oidc.configuration()).serverMetadata().issuer;
  if (credential === undefined || issuerOf(credential.value) !== idpIssuer) {
    throw new IdentityError(
      'credentials_missing',
      'There is no token of the exchanging identity provider for this person: they did not sign in with it.',
      { details: { strategy: 'exchange' } },
    );
  }
  return credential.value;
}

// An IdP that cannot be reached is an outage; one that answers with an error refused the
// exchange.
async function requestExchange(
  config: client.Configuration,
  grant: NonNullable<ParsedExchangeOptions['grant']>,
  subject: string,
  upstream: Upstream,
): Promise<client.TokenEndpointResponse> {
  try {
    return grant === 'entra-obo'
      ? await client.genericGrantRequest(config, JWT_BEARER, {
          assertion: subject,
          requested_token_use: 'on_behalf_of',
          scope: `${upstream.audience}/.default`,
        })
      : await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
          subject_token: subject,
          subject_token_type: ACCESS_TOKEN_TYPE,
          requested_token_type: ACCESS_TOKEN_TYPE,
          audience: upstream.audience,
        });
  } catch (error) {
    if (isIdpUnreachable(error)) throw idpUnavailable('token_exchange', error);
    throw new IdentityError(
      'token_exchange_refused',
      `The identity provider refused to issue a token for "${upstream.name}" on the user's behalf. Check that the exchange is allowed for this client and audience.`,
      {
        details: {
          upstream: upstream.name,
          error: (error as { error?: unknown }).error ?? null,
        },
      },
    );
  }
}

function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}
