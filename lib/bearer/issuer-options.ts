import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import type { Claims } from '../core/claims.js';
import { mappingSchema, presetSchema } from '../core/identity-mapping.js';
import { lazySchema } from '../core/lazy-zod.js';
import { secureUrl } from '../core/secure-url.js';
import { SUPPORTED_ALGORITHMS } from './algorithms.js';

/** Default: 30 seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
/**
 * Default: 86400 (24 hours). A token whose `exp` lies further ahead is refused: no identity
 * provider issues access tokens for longer, and a forged or buggy "never expires" token
 * must not turn into a session that cannot be contained.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SEC = 86_400;

/** What an application may pass for one trusted token issuer. */
export const issuerShape = lazySchema((z) => {
  const keyObject = z.custom<KeyObject>(
    (value) => typeof value === 'object' && value !== null && 'asymmetricKeyType' in value,
  );
  const jwk = z.looseObject({ kty: z.string() });
  const seconds = z.number().int().nonnegative();
  return {
    /** The exact `iss` value of the tokens (required). */
    issuer: z.string().min(1),
    /** The audience the tokens must name: your API's identifier (required). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** An HMAC secret (HS256/384/512): at least 32 bytes. */
    secret: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
    /** A PEM public key, a public JWK, or a KeyObject (RS*, PS*, ES*, EdDSA). */
    publicKey: z.union([z.string().min(1), jwk, keyObject]).optional(),
    /** The issuer's JWKS URL (Entra ID, Okta, Auth0, Keycloak publish one). */
    jwksUri: secureUrl().optional(),
    /** A JSON Web Key Set held in memory (keys chosen by `kid`), as `sessions.trustedIssuer()` gives. */
    jwks: z.strictObject({ keys: z.array(jwk).min(1) }).optional(),
    /** Narrows the algorithms further than the key type does. */
    algorithms: z.array(z.enum(SUPPORTED_ALGORITHMS)).min(1).optional(),
    /** Default: 30. Seconds of clock skew allowed on `exp`, `nbf` and `iat` (at most 300). */
    clockToleranceSec: seconds.max(300).optional(),
    /** Refuse tokens whose `iat` is older than this (and tokens without `iat`). */
    maxTokenAgeSec: seconds.min(1).optional(),
    /** Default: 86400 (24 hours). A token whose `exp` is further ahead is refused. */
    maxTokenLifetimeSec: seconds.min(60).optional(),
    /** Claims that must be present, beyond `exp` (always required). */
    requiredClaims: z.array(z.string().min(1)).optional(),
    /** RFC 9068: accept only tokens with `typ: at+jwt` (refuses ID tokens sent as access tokens). */
    requireAccessTokenType: z.boolean().optional(),
    /** The claim that names the user, like a gateway's `DF_JWT_USER_CLAIM`; must be present. */
    userClaim: z.string().min(1).optional(),
    /** Default: `generic`. The claim shapes of the identity provider. */
    preset: presetSchema().optional(),
    /** `{ claim_mapping, role_mapping }`, the gateway shape; overrides the preset per field. */
    mapping: mappingSchema().optional(),
    /**
     * Called after each successful verification; return true to refuse the token (401
     * `token_revoked`). Tokens of an issuer with this hook are never served from the
     * verified-token cache, so a sign-out takes effect on the next request.
     */
    isRevoked: z
      .custom<(claims: Claims) => boolean | Promise<boolean>>(
        (value) => typeof value === 'function',
      )
      .optional(),
    /** A claim naming how the person signed in (`ldap`, `saml`), used as the identity's provider. */
    providerClaim: z.string().min(1).optional(),
    /** Called when the token announces a groups overage (Entra ID): return the user's groups. */
    resolveGroups: z
      .custom<(claims: Claims) => Promise<readonly string[]>>(
        (value) => typeof value === 'function',
      )
      .optional(),
    /** Default: 600000 (10 minutes) before a cached JWKS key is fetched again. */
    jwksCacheMaxAgeMs: z.number().int().min(1_000).optional(),
    /**
     * Default: 900000 (15 minutes) of serving cached keys while the JWKS endpoint is down.
     * **Trade-off:** a key the provider withdrew during an outage keeps verifying this long.
     */
    jwksStaleIfErrorMs: z.number().int().nonnegative().optional(),
    /** Default: 10 fetches a minute for `kid`s never seen before. */
    jwksRequestsPerMinute: z.number().int().min(1).max(600).optional(),
    /** Default: 5000 (5 seconds) for one JWKS fetch. */
    jwksTimeoutMs: z.number().int().min(100).max(60_000).optional(),
  };
});

export const issuerSchema = lazySchema((z) =>
  z.strictObject(issuerShape()).superRefine((value, context) => {
    const sources = (['secret', 'publicKey', 'jwksUri', 'jwks'] as const).filter(
      (name) => value[name] !== undefined,
    );
    if (sources.length !== 1) {
      context.addIssue({
        code: 'custom',
        path: sources.length === 0 ? ['jwksUri'] : [sources[1] ?? 'jwksUri'],
        message:
          sources.length === 0
            ? 'is missing: give exactly one of "secret", "publicKey", "jwksUri" or "jwks" so tokens can be verified'
            : `conflicts with "${sources[0]}": give exactly one of "secret", "publicKey", "jwksUri" or "jwks"`,
      });
    }
  }),
);

/** What an application passes for one trusted issuer. */
export type IssuerOptions = z.input<ReturnType<typeof issuerSchema>>;
export type ParsedIssuerOptions = z.output<ReturnType<typeof issuerSchema>>;
