import { z } from 'zod';
import { IdentityError } from '../core/errors.js';
import { functionOption, objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import {
  checkSameOrigin,
  DEFAULT_SESSION_COOKIE,
  readSessionCookie,
  sessionCookieName,
} from '../core/session-cookie.js';
import type { Claims } from '../core/claims.js';
import type { Identity } from '../core/identity.js';
import { createIdentityMapper } from '../core/identity-mapping.js';
import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  denyListRule,
  type ServiceAccountRule,
} from '../core/service-accounts.js';
import { apiKeyRefused, extractBearerToken, type CredentialCarriers } from './bearer-token.js';
import type { IdentityIssuer } from './identity-from-token.js';
import { identityFromToken } from './identity-from-token.js';
import { secureUrl } from '../core/secure-url.js';
import {
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_LIFETIME_SEC,
  issuerSchema,
  issuerShape,
  type ParsedIssuerOptions,
} from './issuer-options.js';
import {
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_REQUESTS_PER_MINUTE,
  DEFAULT_JWKS_STALE_IF_ERROR_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  jwksKeySource,
} from './jwks-key-source.js';
import { localJwksKeySource, staticKeySource, type KeySource } from './key-source.js';
import { createTokenVerifier, DEFAULT_MAX_TOKEN_BYTES } from './token-verifier.js';
import {
  createVerifiedTokenCache,
  tokenDigest,
  DEFAULT_TOKEN_CACHE_MAX_AGE_MS,
  DEFAULT_TOKEN_CACHE_MAX_ENTRIES,
} from './verified-token-cache.js';

/**
 * Headers that carry application API keys. Sent alone, they are refused: an API key names an
 * application, and the AI must act as a person. Sent beside a user's bearer token (as
 * DreamFactory clients do), they are ignored here.
 */
export const DEFAULT_API_KEY_HEADERS = Object.freeze([
  'x-api-key',
  'api-key',
  'apikey',
  'x-dreamfactory-api-key',
]);

const ruleNames = Object.values(DEFAULT_SERVICE_ACCOUNT_RULES).map((rule) => rule.name);

const serviceAccountsSchema = z.strictObject({
  /** Exact subjects, usernames or emails of shared accounts. */
  denySubjects: z.array(z.string().min(1)).optional(),
  /** Wildcard strings (`svc-*`) or RegExps matched against the same fields. */
  denyPatterns: z.array(z.union([z.string().min(1), z.instanceof(RegExp)])).optional(),
  /**
   * Built-in rules to switch off, by name (see `SERVICE_ACCOUNT_RULES`). **Warning:** tokens
   * of that shape are then treated as people, and reach AI routes as such.
   */
  disableRules: z.array(z.enum(ruleNames as [string, ...string[]])).optional(),
  /** Extra rules of your own, tried after the built-in ones. */
  rules: z
    .array(
      objectWithMethods<ServiceAccountRule>(
        ['matches'],
        'must be { name, description, matches(input) }',
        ['name'],
      ),
    )
    .optional(),
});

/** Options of the bearer authenticator; an issuer's fields may stand at the top level. */
export const authenticatorShape = {
  ...z.strictObject(issuerShape).partial().shape,
  /** Several trusted issuers, each with its own keys and rules. */
  issuers: z.array(issuerSchema).min(1).optional(),
  /**
   * Default: true. When false, a request without any credential passes with no identity.
   * **Warning:** routes then need `requireUser()` (or their own check) to refuse anonymous
   * callers; `authenticate()` alone no longer does.
   */
  credentialsRequired: z.boolean().optional(),
  /** Headers that mark an API key. Default: `x-api-key`, `api-key`, `apikey`, `x-dreamfactory-api-key`. */
  apiKeyHeaders: z.array(z.string().min(1)).optional(),
  /** Default: 16384. Larger bearer tokens are refused before any parsing. */
  maxTokenBytes: z.number().int().min(1_024).max(65_536).optional(),
  serviceAccounts: serviceAccountsSchema.optional(),
  /**
   * Reuse of successful verifications for a repeated token. Default: on, 10000 entries, at most
   * 30 s and never past `exp`. **Trade-off:** a key removed from the JWKS or a revoked token keeps
   * working for up to `maxAgeMs`; set `false` to verify every request.
   */
  tokenCache: z
    .union([
      z.literal(false),
      z.strictObject({
        maxEntries: z.number().int().min(1).max(1_000_000).optional(),
        maxAgeMs: z.number().int().min(1).max(600_000).optional(),
      }),
    ])
    .optional(),
  /**
   * Also accept the session token from a cookie (browser sign-in through SAML or OIDC), when
   * the request has no `Authorization` header. Unsafe methods (POST, PUT, DELETE...) with the
   * cookie must come from `allowedOrigins` (a CSRF defence), or get 403 `csrf_refused`.
   */
  sessionCookie: z
    .strictObject({
      /**
       * Default: `__Host-eip-session`, or `eip-session` when `secure` is false: give the same
       * `name` and `secure` as the sign-in routes' `cookie`, and both name the same cookie.
       */
      name: z
        .string()
        .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'is not a valid cookie name')
        .optional(),
      /** Default: true. False only for plain-HTTP development on 127.0.0.1. */
      secure: z.boolean().optional(),
      /** The origins of this application's own pages, e.g. `https://assistant.example.com`. */
      allowedOrigins: z
        .array(
          secureUrl.refine((value) => new URL(value).origin === value, {
            message: 'must be an origin (scheme, host and port) without a path or a trailing slash',
          }),
        )
        .min(1),
    })
    .optional(),
  /** Injectable clock, in milliseconds since the epoch. Default: `Date.now`. */
  now: functionOption<() => number>().optional(),
  /** Injectable fetch for JWKS requests. Default: the global `fetch`. */
  fetch: functionOption<typeof globalThis.fetch>().optional(),
};

export const authenticatorSchema = z.strictObject(authenticatorShape);
/** Options of the bearer authenticator: one issuer at the top level, or `issuers`. */
export type AuthenticatorOptions = z.input<typeof authenticatorSchema>;

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
  const options = parseOptions(authenticatorSchema, input, factory);
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
  const verifier = createTokenVerifier({
    issuers,
    maxTokenBytes: options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
    now,
  });
  const rules = serviceAccountRules(options.serviceAccounts);
  const apiKeyHeaders = (options.apiKeyHeaders ?? DEFAULT_API_KEY_HEADERS).map((name) =>
    name.toLowerCase(),
  );
  const credentialsRequired = options.credentialsRequired ?? true;
  const cookieName =
    options.sessionCookie === undefined
      ? DEFAULT_SESSION_COOKIE
      : sessionCookieName(options.sessionCookie, 'sessionCookie');
  const allowedOrigins = new Set(options.sessionCookie?.allowedOrigins ?? []);
  const tokenFromCookie = (request: AuthenticationRequest): string | undefined => {
    if (options.sessionCookie === undefined) return undefined;
    const token = readSessionCookie(request.headers['cookie'], cookieName);
    if (token !== undefined)
      checkSameOrigin(request.method ?? 'POST', request.headers, allowedOrigins);
    return token;
  };
  const cache =
    options.tokenCache === false
      ? undefined
      : createVerifiedTokenCache({
          maxEntries: options.tokenCache?.maxEntries ?? DEFAULT_TOKEN_CACHE_MAX_ENTRIES,
          maxAgeMs: options.tokenCache?.maxAgeMs ?? DEFAULT_TOKEN_CACHE_MAX_AGE_MS,
          now,
        });

  const findApiKeyHeader = (headers: AuthenticationRequest['headers']): string | undefined =>
    apiKeyHeaders.find((name) => headers[name] !== undefined);

  return {
    warm: () => verifier.warm(),
    findApiKeyHeader,
    identify,
    async authenticate(request) {
      return identify(request);
    },
  };

  function identify(
    request: AuthenticationRequest,
  ): Identity | undefined | Promise<Identity | undefined> {
    const token = extractBearerToken(request) ?? tokenFromCookie(request);
    if (token === undefined) {
      // Without a required credential the request passes anonymously, and a route guard
      // refuses the API key where a person is needed; other routes may accept it.
      if (!credentialsRequired) return undefined;
      const apiKeyHeader = findApiKeyHeader(request.headers);
      if (apiKeyHeader !== undefined) throw apiKeyRefused(apiKeyHeader);
      throw new IdentityError(
        'credentials_missing',
        'This route needs the signed-in user\'s access token: send "Authorization: Bearer <token>".',
      );
    }
    return cache?.get(tokenDigest(token)) ?? verify(token);
  }

  async function verify(token: string): Promise<Identity> {
    const verified = await verifier.verify(token);
    const { isRevoked } = verified.issuer;
    if (isRevoked !== undefined && (await revocationCheck(isRevoked, verified.claims))) {
      throw new IdentityError(
        'token_revoked',
        'This session has been signed out or revoked; sign in again.',
        { details: { claim: 'sid' } },
      );
    }
    // Computed again rather than taken from the caller: a digest that did not belong to the
    // token would file this identity under another token's key.
    const digest = tokenDigest(token);
    const identity = await identityFromToken(verified, token, digest, rules);
    // A revocable token is checked on every request; caching it would let a signed-out
    // session keep working for the cache's lifetime.
    if (isRevoked === undefined) cache?.set(digest, identity);
    return identity;
  }
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

function issuerList(
  options: z.output<typeof authenticatorSchema>,
  factory: string,
): { parsed: ParsedIssuerOptions; path: string }[] {
  const topLevel = Object.fromEntries(
    Object.keys(issuerShape)
      .filter((key) => options[key as keyof typeof issuerShape] !== undefined)
      .map((key) => [key, options[key as keyof typeof issuerShape]]),
  );
  if (options.issuers !== undefined) {
    const stray = Object.keys(topLevel)[0];
    if (stray !== undefined) {
      throw new TypeError(
        `option "${stray}": with "issuers", put every issuer setting inside its issuer entry`,
      );
    }
    return options.issuers.map((parsed, index) => ({ parsed, path: `issuers.${index}.` }));
  }
  const parsed = parseOptions(issuerSchema, topLevel, factory);
  return [{ parsed, path: '' }];
}

function compileIssuer(
  parsed: ParsedIssuerOptions,
  path: string,
  now: () => number,
  fetchFn: typeof globalThis.fetch,
): IdentityIssuer {
  let keys: KeySource;
  if (parsed.jwksUri !== undefined) {
    const symmetric = parsed.algorithms?.filter((alg) => alg.startsWith('HS')) ?? [];
    if (symmetric.length > 0) {
      throw new TypeError(
        `option "${path}algorithms": ${symmetric.join(', ')} cannot be verified with keys from "jwksUri" (a JWKS publishes public keys); use "secret" for HMAC tokens`,
      );
    }
    keys = jwksKeySource({
      jwksUri: parsed.jwksUri,
      cacheMaxAgeMs: parsed.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      staleIfErrorMs: parsed.jwksStaleIfErrorMs ?? DEFAULT_JWKS_STALE_IF_ERROR_MS,
      requestsPerMinute: parsed.jwksRequestsPerMinute ?? DEFAULT_JWKS_REQUESTS_PER_MINUTE,
      timeoutMs: parsed.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
      algorithms: parsed.algorithms,
      fetch: fetchFn,
      now,
    });
  } else if (parsed.jwks !== undefined) {
    keys = localJwksKeySource(parsed.jwks, parsed.algorithms, `${path}jwks`);
  } else if (parsed.secret !== undefined) {
    keys = staticKeySource({ secret: parsed.secret }, parsed.algorithms, `${path}secret`);
  } else if (parsed.publicKey !== undefined) {
    keys = staticKeySource({ publicKey: parsed.publicKey }, parsed.algorithms, `${path}publicKey`);
  } else {
    throw new TypeError(`option "${path}jwksUri": give one of secret, publicKey or jwksUri`);
  }
  return Object.freeze({
    issuer: parsed.issuer,
    audience: Object.freeze(
      typeof parsed.audience === 'string' ? [parsed.audience] : parsed.audience,
    ),
    keys,
    clockToleranceSec: parsed.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    maxTokenAgeSec: parsed.maxTokenAgeSec,
    maxTokenLifetimeSec: parsed.maxTokenLifetimeSec ?? DEFAULT_MAX_TOKEN_LIFETIME_SEC,
    requiredClaims: Object.freeze([...(parsed.requiredClaims ?? [])]),
    requireAccessTokenType: parsed.requireAccessTokenType ?? false,
    mapper: createIdentityMapper({
      ...(parsed.preset === undefined ? {} : { preset: parsed.preset }),
      ...(parsed.mapping === undefined ? {} : { mapping: parsed.mapping }),
      ...(parsed.userClaim === undefined ? {} : { userClaim: parsed.userClaim }),
    }),
    userClaim: parsed.userClaim,
    resolveGroups: parsed.resolveGroups,
    isRevoked: parsed.isRevoked,
    providerClaim: parsed.providerClaim,
  });
}

function serviceAccountRules(
  config: z.output<typeof serviceAccountsSchema> | undefined,
): readonly ServiceAccountRule[] {
  const disabled = new Set(config?.disableRules ?? []);
  const rules = DEFAULT_SERVICE_ACCOUNT_RULES.filter((rule) => !disabled.has(rule.name));
  if ((config?.denySubjects?.length ?? 0) > 0 || (config?.denyPatterns?.length ?? 0) > 0) {
    rules.push(
      denyListRule({
        ...(config?.denySubjects === undefined ? {} : { subjects: config.denySubjects }),
        ...(config?.denyPatterns === undefined ? {} : { patterns: config.denyPatterns }),
      }),
    );
  }
  rules.push(...(config?.rules ?? []));
  return Object.freeze(rules);
}
