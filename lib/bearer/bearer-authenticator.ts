import type { z } from 'zod';
import { IdentityError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { checkSameOrigin, readSessionCookie, sessionCookieName } from '../core/session-cookie.js';
import type { Claims } from '../core/claims.js';
import type { Identity } from '../core/identity.js';
import type { ServiceAccountRule } from '../core/service-accounts.js';
import { apiKeyRefused, extractBearerToken, type CredentialCarriers } from './bearer-token.js';
import {
  authenticatorSchema,
  DEFAULT_API_KEY_HEADERS,
  type AuthenticatorOptions,
} from './authenticator-options.js';
import { compileIssuer, issuerList, serviceAccountRules } from './compile-issuers.js';
import { identityFromToken, type IdentityIssuer } from './identity-from-token.js';
import {
  createTokenVerifier,
  DEFAULT_MAX_TOKEN_BYTES,
  type TokenVerifier,
} from './token-verifier.js';
import {
  createVerifiedTokenCache,
  tokenDigest,
  DEFAULT_TOKEN_CACHE_MAX_AGE_MS,
  DEFAULT_TOKEN_CACHE_MAX_ENTRIES,
  type VerifiedTokenCache,
} from './verified-token-cache.js';

/** A request as the authenticator sees it. */
export interface AuthenticationRequest extends CredentialCarriers {
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The HTTP method; needed for the CSRF check of cookie sessions. */
  readonly method?: string;
}

/** Bearer authentication without a web framework: what `authenticate()` is built on. */
export interface BearerAuthenticator {
  /**
   * The identity of the request (from the verified-token cache, or by verifying its token), or
   * undefined when it carries no credential and none is required. Rejects with the
   * {@link IdentityError} that says why the request is refused.
   */
  authenticate(request: AuthenticationRequest): Promise<Identity | undefined>;
  /** Fetches every JWKS now, so that a wrong URL fails at startup rather than on a request. */
  warm(): Promise<void>;
  /** The API-key header a request carries, if any (lower case). */
  findApiKeyHeader(headers: AuthenticationRequest['headers']): string | undefined;
}

/**
 * The adapters' form of the same authenticator: `identify` answers a cached token at once,
 * without a promise, and returns one only when a token must be verified (a promise per request
 * is measurable at thousands of requests a second). Not part of the public API.
 */
export interface IdentifyingAuthenticator extends BearerAuthenticator {
  /** As `authenticate`, but synchronous when it can be; throws (or rejects) the refusal. */
  identify(request: AuthenticationRequest): Identity | undefined | Promise<Identity | undefined>;
}

/**
 * The framework-agnostic bearer authentication: credential extraction, verification against
 * the issuer the token names, and mapping into an {@link Identity}. Options are checked here,
 * once; an invalid one throws a `TypeError` naming it.
 */
export function createBearerAuthenticator(
  input: AuthenticatorOptions,
  factory = 'createBearerAuthenticator',
): BearerAuthenticator {
  return compileBearerAuthenticator(input, factory);
}

/** {@link createBearerAuthenticator} with the adapters' synchronous `identify`. */
export function compileBearerAuthenticator(
  input: AuthenticatorOptions,
  factory: string,
): IdentifyingAuthenticator {
  const setup = compileSetup(parseOptions(authenticatorSchema(), input, factory), factory);
  const identify = (request: AuthenticationRequest) => identifyRequest(setup, request);
  return {
    warm: () => setup.verifier.warm(),
    findApiKeyHeader: (headers) => apiKeyHeaderOf(setup, headers),
    identify,
    async authenticate(request) {
      return identify(request);
    },
  };
}

/** Everything a request is authenticated with, compiled once from the options. */
interface Setup {
  readonly verifier: TokenVerifier<IdentityIssuer>;
  readonly rules: readonly ServiceAccountRule[];
  readonly apiKeyHeaders: readonly string[];
  readonly credentialsRequired: boolean;
  readonly cookie:
    { readonly name: string; readonly allowedOrigins: ReadonlySet<string> } | undefined;
  readonly cache: VerifiedTokenCache | undefined;
}

function compileSetup(
  options: z.output<ReturnType<typeof authenticatorSchema>>,
  factory: string,
): Setup {
  const now = options.now ?? Date.now;
  const fetchFn = options.fetch ?? globalThis.fetch;
  const issuers = issuerList(options, factory).map(({ parsed, path }) =>
    compileIssuer(parsed, path, now, fetchFn),
  );
  const duplicate = issuers.find(
    (issuer, index) => issuers.findIndex((other) => other.issuer === issuer.issuer) !== index,
  );
  if (duplicate !== undefined) {
    throw new TypeError(`option "issuers": the issuer "${duplicate.issuer}" is listed twice`);
  }
  const { sessionCookie, tokenCache } = options;
  return Object.freeze({
    verifier: createTokenVerifier({
      issuers,
      maxTokenBytes: options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
      now,
    }),
    rules: serviceAccountRules(options.serviceAccounts),
    apiKeyHeaders: (options.apiKeyHeaders ?? DEFAULT_API_KEY_HEADERS).map((name) =>
      name.toLowerCase(),
    ),
    credentialsRequired: options.credentialsRequired ?? true,
    cookie:
      sessionCookie === undefined
        ? undefined
        : {
            name: sessionCookieName(sessionCookie, 'sessionCookie'),
            allowedOrigins: new Set(sessionCookie.allowedOrigins),
          },
    cache:
      tokenCache === false
        ? undefined
        : createVerifiedTokenCache({
            maxEntries: tokenCache?.maxEntries ?? DEFAULT_TOKEN_CACHE_MAX_ENTRIES,
            maxAgeMs: tokenCache?.maxAgeMs ?? DEFAULT_TOKEN_CACHE_MAX_AGE_MS,
            now,
          }),
  });
}

function apiKeyHeaderOf(
  setup: Setup,
  headers: AuthenticationRequest['headers'],
): string | undefined {
  return setup.apiKeyHeaders.find((name) => headers[name] !== undefined);
}

// A browser's session cookie, when configured; unsafe methods must come from an allowed origin.
function tokenFromCookie(setup: Setup, request: AuthenticationRequest): string | undefined {
  if (setup.cookie === undefined) return undefined;
  const token = readSessionCookie(request.headers['cookie'], setup.cookie.name);
  if (token !== undefined) {
    checkSameOrigin(request.method ?? 'POST', request.headers, setup.cookie.allowedOrigins);
  }
  return token;
}

function identifyRequest(
  setup: Setup,
  request: AuthenticationRequest,
): Identity | undefined | Promise<Identity | undefined> {
  const token = extractBearerToken(request) ?? tokenFromCookie(setup, request);
  if (token === undefined) {
    // Without a required credential the request passes anonymously, and a route guard
    // refuses the API key where a person is needed; other routes may accept it.
    if (!setup.credentialsRequired) return undefined;
    const apiKeyHeader = apiKeyHeaderOf(setup, request.headers);
    if (apiKeyHeader !== undefined) throw apiKeyRefused(apiKeyHeader);
    throw new IdentityError(
      'credentials_missing',
      'This route needs the signed-in user\'s access token: send "Authorization: Bearer <token>".',
    );
  }
  return setup.cache?.get(token) ?? verifyToken(setup, token);
}

async function verifyToken(setup: Setup, token: string): Promise<Identity> {
  const verified = await setup.verifier.verify(token);
  const { isRevoked } = verified.issuer;
  if (isRevoked !== undefined && (await revocationCheck(isRevoked, verified.claims))) {
    throw new IdentityError(
      'token_revoked',
      'This session has been signed out or revoked; sign in again.',
      { details: { claim: 'sid' } },
    );
  }
  const digest = tokenDigest(token);
  const built = identityFromToken(verified, token, digest, setup.rules);
  const identity = built instanceof Promise ? await built : built;
  // A revocable token is checked on every request; caching it would let a signed-out session
  // keep working for the cache's lifetime.
  if (isRevoked === undefined) setup.cache?.offer(token, digest, identity);
  return identity;
}

async function revocationCheck(
  isRevoked: (claims: Claims) => boolean | Promise<boolean>,
  claims: Claims,
): Promise<boolean> {
  try {
    return await isRevoked(claims);
  } catch (cause) {
    throw new IdentityError(
      'session_store_unavailable',
      'Whether this session was signed out cannot be checked right now; retry shortly.',
      { cause },
    );
  }
}
