import type { z } from 'zod';
import { parseOptions } from '../core/options.js';
import { createIdentityMapper } from '../core/identity-mapping.js';
import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  denyListRule,
  type ServiceAccountRule,
} from '../core/service-accounts.js';
import type { ParsedAuthenticatorOptions, serviceAccountsSchema } from './authenticator-options.js';
import type { IdentityIssuer } from './identity-from-token.js';
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

// How the authenticator's options become trusted issuers and service-account rules, checked
// once at startup.

type IssuerKey = keyof ReturnType<typeof issuerShape>;

export function issuerList(
  options: ParsedAuthenticatorOptions,
  factory: string,
): { parsed: ParsedIssuerOptions; path: string }[] {
  const topLevel = Object.fromEntries(
    Object.keys(issuerShape())
      .filter((key) => options[key as IssuerKey] !== undefined)
      .map((key) => [key, options[key as IssuerKey]]),
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
  const parsed = parseOptions(issuerSchema(), topLevel, factory);
  return [{ parsed, path: '' }];
}

export function compileIssuer(
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

export function serviceAccountRules(
  config: z.output<ReturnType<typeof serviceAccountsSchema>> | undefined,
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
