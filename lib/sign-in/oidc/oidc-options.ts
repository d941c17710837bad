import type { z } from 'zod';
import { type CLAIM_PRESET_NAMES, type ClaimPresetName } from '../../core/claim-presets.js';
import { signInMappingSchema } from '../../core/identity-mapping.js';
import { lazySchema } from '../../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../../core/option-schemas.js';
import { secureUrl } from '../../core/secure-url.js';
import { authorizationParametersSchema } from './oidc-authorization-parameters.js';
import type { OidcTokenStore } from './oidc-token-store.js';

/** Default: refresh the user's access token 60 seconds before it expires. */
export const DEFAULT_REFRESH_BEFORE_EXPIRY_SEC = 60;
/** Default: 5000 (5 seconds) for each request to the identity provider. */
export const DEFAULT_OIDC_TIMEOUT_MS = 5_000;

/**
 * Options of `createOidcSignIn()`. The first six keys have the names (and case) users already
 * write in their data gateway's OAuth service configuration.
 */
export const oidcOptionsSchema = lazySchema((z) =>
  z.strictObject({
    /** `entra`, `okta`, `auth0`, `keycloak` or `generic`: claim shapes and Entra's issuer URL. */
    provider: z.enum(['entra', 'okta', 'auth0', 'keycloak', 'generic']),
    client_id: z.string().min(1),
    client_secret: z.string().min(1),
    /** Entra ID: the directory (tenant) id; the issuer is derived from it. */
    tenant_id: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,100}$/, 'must be a tenant id or domain')
      .optional(),
    /** This application's callback URL, registered at the IdP (required). */
    redirect_uri: secureUrl(),
    /**
     * Default: `openid profile email offline_access`. `openid` is always included. With
     * `offline_access` and `provider: 'generic'`, `prompt=consent` is sent unless
     * `authorizationParameters.prompt` says otherwise (OpenID Connect Core §11; without it a strict
     * IdP issues no refresh token).
     */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).optional(),
    /**
     * Extra parameters of the authorization request, e.g. `{ prompt: 'select_account' }`,
     * `{ domain_hint: 'example.com' }`, `{ max_age: '3600' }` (then checked against the ID token's
     * `auth_time`) or Auth0's `{ audience }`. Parameters the sign-in sets itself (`state`, `nonce`,
     * `code_challenge`, `redirect_uri`, `response_type`, `client_id`, `scope`, ...) are refused.
     * **Warning:** `acr_values` is a request; the `acr` the IdP used is not checked.
     */
    authorizationParameters: authorizationParametersSchema().optional(),
    /**
     * Default: false. The ID token's `email` becomes the identity's email only when the IdP marks
     * it `email_verified: true`; otherwise it is kept as `attributes.unverified_email`. True also
     * accepts an `email` without any `email_verified` claim (an IdP that manages every address and
     * never sends the claim); an explicit `false` is never trusted. **Warning:** where users can set
     * their own address, a gateway that keys rows on email would give them someone else's rows.
     */
    dangerouslyTrustEmailWithoutVerifiedClaim: z.boolean().optional(),
    /** The issuer to discover (`/.well-known/openid-configuration`); Entra's comes from tenant_id. */
    issuer: secureUrl().optional(),
    /** RFC 8707: the API the access token is for, when the IdP issues per-resource tokens. */
    resource: z.string().min(1).optional(),
    /** `{ claim_mapping, role_mapping }` over ID-token claims, as for bearer tokens. */
    mapping: signInMappingSchema().optional(),
    /** Default: 60. Seconds before expiry at which the user's access token is refreshed. */
    refreshBeforeExpirySec: z.number().int().min(5).max(600).optional(),
    /** Default: 5000. For each call to the IdP, to the millisecond. */
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
    /** Where users' IdP tokens are kept, server-side. Default: in memory (one instance). */
    tokenStore: objectWithMethods<OidcTokenStore>(
      ['get', 'set', 'delete'],
      'must be a token store: { get, set, delete }',
    ).optional(),
    now: functionOption<() => number>().optional(),
  }),
);

/** Options of `createOidcSignIn()`, in the shape of a data gateway's OAuth service settings. */
export type OidcSignInOptions = z.input<ReturnType<typeof oidcOptionsSchema>>;

/** The claim preset for each provider name. */
export const PROVIDER_PRESETS: Readonly<
  Record<z.output<ReturnType<typeof oidcOptionsSchema>>['provider'], ClaimPresetName>
> = {
  entra: 'entra',
  okta: 'okta',
  auth0: 'auth0',
  keycloak: 'keycloak',
  generic: 'generic',
};

// Every provider preset must exist among the claim presets.
void (Object.values(PROVIDER_PRESETS) satisfies readonly (typeof CLAIM_PRESET_NAMES)[number][]);
