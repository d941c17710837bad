import { SUPPORTED_ALGORITHMS } from '../../bearer/algorithms.js';
import type { IdentityError, IdentityErrorCode } from '../../core/errors.js';
import type { IssuerView } from './bearer-settings.js';

/** The checks of the report, in the order the middleware runs them. */
export const CHECK_IDS = [
  'token',
  'issuer',
  'key',
  'algorithm',
  'signature',
  'claims',
  'audience',
  'time',
  'revocation',
  'identity',
  'service-account',
  'scopes',
  'roles',
  'groups',
] as const;

/** One check of the report. */
export type CheckId = (typeof CHECK_IDS)[number];

const BY_CODE: Partial<Record<IdentityErrorCode, CheckId>> = {
  invalid_request: 'token',
  unsupported_auth_scheme: 'token',
  multiple_credentials: 'token',
  credentials_missing: 'token',
  api_key_refused: 'token',
  token_malformed: 'token',
  token_too_large: 'token',
  token_encrypted: 'token',
  token_header_forbidden: 'token',
  token_issuer_unknown: 'issuer',
  token_key_unknown: 'key',
  token_algorithm_refused: 'algorithm',
  token_signature_invalid: 'signature',
  token_type_invalid: 'claims',
  token_audience_invalid: 'audience',
  token_expired: 'time',
  token_not_yet_valid: 'time',
  token_too_old: 'time',
  token_lifetime_excessive: 'time',
  token_revoked: 'revocation',
  session_store_unavailable: 'revocation',
  service_account_refused: 'service-account',
  insufficient_scope: 'scopes',
  role_missing: 'roles',
  group_missing: 'groups',
};

/**
 * The check a refusal belongs to: its code decides, and for the few codes several checks raise,
 * the details the middleware attached (the claim, the step) and the token's header decide.
 *
 * @example
 * ```ts
 * failingCheck(new IdentityError('token_expired', '...'), issuer, 'RS256'); // 'time'
 * ```
 */
export function failingCheck(
  error: IdentityError,
  issuer: IssuerView | undefined,
  alg: string | undefined,
  requiresRoles: boolean,
): CheckId {
  const claim = error.details['claim'];
  switch (error.code) {
    case 'token_algorithm_refused':
      // Refused from the header alone, before any issuer or key was looked at.
      return (SUPPORTED_ALGORITHMS as readonly string[]).includes(alg ?? '')
        ? 'algorithm'
        : 'token';
    case 'token_claim_missing':
      if (claim === 'iss') return 'issuer';
      if (claim === 'exp') return 'time';
      return issuer?.userClaim !== undefined &&
        claim === issuer.userClaim &&
        !issuer.requiredClaims.includes(issuer.userClaim)
        ? 'identity'
        : 'claims';
    case 'token_claim_invalid':
      return claim === 'exp' || claim === 'iat' || claim === 'nbf' ? 'time' : 'claims';
    case 'identity_provider_unavailable':
      return error.details['step'] === 'resolveGroups' ? 'identity' : 'key';
    case 'groups_unresolved':
      return requiresRoles ? 'roles' : 'groups';
    default:
      return BY_CODE[error.code] ?? 'token';
  }
}

/** How the report names a setting: an environment variable or an option. */
export type NameSetting = (option: string) => string;

/**
 * What to do about a refusal, naming the setting to change as the operator wrote it (the
 * environment variable, or the option). Undefined for codes this report cannot meet.
 *
 * @example
 * ```ts
 * fixFor(error, (option) => `option "${option}"`);
 * ```
 */
export function fixFor(error: IdentityError, name: NameSetting): string | undefined {
  const { code } = error;
  switch (code) {
    case 'token_expired':
      return `Get a fresh token (sign in again, or refresh it). If fresh tokens fail too, this machine's clock is off: synchronise it (NTP); ${name('clockToleranceSec')} allows up to 300 s of skew.`;
    case 'token_not_yet_valid':
      return `The token's times lie ahead of this machine's clock: synchronise the clocks of the identity provider and this server (NTP), or widen ${name('clockToleranceSec')} (at most 300 s).`;
    case 'token_too_old':
      return `Get a fresh token, or raise ${name('maxTokenAgeSec')}.`;
    case 'token_lifetime_excessive':
      return `Shorten the access-token lifetime at the identity provider, or raise ${name('maxTokenLifetimeSec')}.`;
    case 'token_key_unknown':
      return error.details['reason'] === 'kid_missing'
        ? 'Tokens must carry the "kid" of their signing key when the JWKS publishes several keys; every major identity provider sends one.'
        : `The JWKS does not publish the token's key: ${name('jwksUri')} points at another tenant, realm or environment than the token's issuer. Use the jwks_uri of <iss>/.well-known/openid-configuration.`;
    case 'identity_provider_unavailable':
      return `Not a bad token: the keys could not be loaded. Check ${name('jwksUri')} from this machine (curl), and proxies, firewalls and TLS on the way.`;
    case 'token_signature_invalid':
      return `The token was signed with another key than the one configured (${name('publicKey')}, ${name('secret')}): copy the key again, or use the issuer's JWKS URL.`;
    case 'token_algorithm_refused':
      return `An RSA key without "alg" verifies RS256 only: name the algorithm in ${name('algorithms')} when the issuer signs PS256 or RS512. "none" and unknown algorithms are never accepted.`;
    case 'token_issuer_unknown':
      return `The token's "iss" must equal ${name('issuer')} exactly (a trailing slash counts). Entra ID v1 tokens say https://sts.windows.net/<tenant>/, v2 tokens https://login.microsoftonline.com/<tenant>/v2.0.`;
    case 'token_audience_invalid':
      return `The token was issued for another API: request it with this API's scope, or set ${name('audience')} to this API's identifier (Entra ID: api://<app-id>, often the app id alone in v2 tokens).`;
    case 'token_claim_missing':
    case 'token_claim_invalid':
      return `Configure the identity provider to include the claim with a valid value, or change ${name('requiredClaims')} / ${name('userClaim')}.`;
    case 'token_type_invalid':
      return `Send an access token (typ "at+jwt"), not an ID token; or switch off ${name('requireAccessTokenType')} when the provider does not type its tokens.`;
    case 'token_revoked':
      return 'The session was signed out: sign in again.';
    case 'session_store_unavailable':
      return 'The revocation store (isRevoked) could not answer: check the session store (Redis).';
    case 'service_account_refused':
      return "Send the signed-in user's token (authorization code or on-behalf-of flow), not a token issued to an application. A route meant for applications takes dangerouslyAllowServiceAccounts (--allow-service-accounts here); a person misclassified by a rule: serviceAccounts.disableRules.";
    case 'role_missing':
      return `Map one of the user's groups to a required role in role_mapping (${name('mapping')}), with the group name exactly as the token carries it, case included; or grant the role at the identity provider.`;
    case 'group_missing':
      return 'Add the user to the group at the identity provider, and check that its groups claim reaches the token.';
    case 'groups_unresolved':
      return 'The identity provider left the groups out of the token (Entra ID overage): configure resolveGroups, or emit groups as app roles.';
    case 'insufficient_scope':
      return 'Request the token with the missing scope, and grant the scope to the client at the identity provider.';
    case 'token_malformed':
    case 'token_too_large':
    case 'token_encrypted':
    case 'token_header_forbidden':
    case 'invalid_request':
    case 'unsupported_auth_scheme':
      return 'Pass the access token exactly as the identity provider issued it: a signed JWT (three base64url parts), optionally after "Bearer ". An opaque token means it was requested without this API as its audience (Auth0: the "audience" parameter; Entra ID: this API\'s scope).';
    default:
      return undefined;
  }
}
