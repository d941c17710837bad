import type { z } from 'zod';
import { authorizationParametersFor } from './oidc-authorization-parameters.js';
import { createOidcIdentityMapper, type OidcIdentityMapper } from './oidc-identity.js';
import {
  DEFAULT_OIDC_TIMEOUT_MS,
  DEFAULT_REFRESH_BEFORE_EXPIRY_SEC,
  PROVIDER_PRESETS,
  type oidcOptionsSchema,
} from './oidc-options.js';
import { createMemoryOidcTokenStore, type OidcTokenStore } from './oidc-token-store.js';

/** The options of `createOidcSignIn()` once validated by their schema. */
export type ParsedOidcOptions = z.output<ReturnType<typeof oidcOptionsSchema>>;

/** What `createOidcSignIn()` settles once from its options, for every sign-in and refresh. */
export interface OidcSettings {
  /** The issuer to discover: the option, or Entra ID's derived from `tenant_id`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The registered callback URL. */
  readonly redirectUri: string;
  /** The requested scopes, `openid` always among them, each once. */
  readonly scopes: readonly string[];
  /** The extra parameters of the authorization request (see `authorizationParametersFor`). */
  readonly authorizationParameters: Readonly<Record<string, string>>;
  /** The `max_age` requested, in seconds: the ID token's `auth_time` must then honour it. */
  readonly maxAgeSec: number | undefined;
  /** RFC 8707: the API the access token is for, sent with every token request. */
  readonly resource: string | undefined;
  readonly timeoutMs: number;
  /** How long before its expiry an access token is refreshed, in milliseconds. */
  readonly refreshBeforeMs: number;
  readonly now: () => number;
  readonly store: OidcTokenStore;
  readonly mapper: OidcIdentityMapper;
}

/**
 * Settles the OIDC sign-in's options once, with their defaults, and freezes the result. Throws
 * a `TypeError` naming the option when the issuer cannot be known (see {@link issuerOf}).
 */
export function oidcSettingsFrom(parsed: ParsedOidcOptions): OidcSettings {
  const issuer = issuerOf(parsed);
  const now = parsed.now ?? Date.now;
  const scopes = [
    ...new Set(['openid', ...(parsed.scopes ?? ['profile', 'email', 'offline_access'])]),
  ];
  const authorizationParameters = authorizationParametersFor({
    provider: parsed.provider,
    scopes,
    parameters: parsed.authorizationParameters,
  });
  const maxAge = authorizationParameters['max_age'];
  return Object.freeze({
    issuer,
    clientId: parsed.client_id,
    clientSecret: parsed.client_secret,
    redirectUri: parsed.redirect_uri,
    scopes: Object.freeze(scopes),
    authorizationParameters,
    maxAgeSec: maxAge === undefined ? undefined : Number(maxAge),
    resource: parsed.resource,
    timeoutMs: parsed.timeoutMs ?? DEFAULT_OIDC_TIMEOUT_MS,
    refreshBeforeMs: (parsed.refreshBeforeExpirySec ?? DEFAULT_REFRESH_BEFORE_EXPIRY_SEC) * 1000,
    now,
    store: parsed.tokenStore ?? createMemoryOidcTokenStore({ now }),
    mapper: createOidcIdentityMapper({
      preset: PROVIDER_PRESETS[parsed.provider],
      mapping: parsed.mapping,
      trustEmailWithoutVerifiedClaim: parsed.dangerouslyTrustEmailWithoutVerifiedClaim ?? false,
    }),
  });
}

/** The issuer to discover: given, or derived from Entra ID's tenant; never guessed. */
function issuerOf(parsed: ParsedOidcOptions): string {
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
