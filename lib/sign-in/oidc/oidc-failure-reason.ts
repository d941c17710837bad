/**
 * Why an OIDC sign-in or refresh was refused, as a stable snake_case string for the audit
 * event's `details.reason`. The client always gets the same safe message; administrators and
 * audit queries get this. Unknown failures are `invalid_response`.
 */
export interface OidcFailure {
  readonly reason: string;
  /** The IdP's OAuth `error` code, when it answered with one (`invalid_grant`, ...). */
  readonly oauthError?: string;
}

// openid-client (v6) rethrows oauth4webapi's errors under one code per family
// (`OAUTH_INVALID_RESPONSE` covers a bad state, a missing `iss` and a forged signature alike);
// the precise fact is in the wrapped error's message or its `cause.claim`. These are
// oauth4webapi 3's messages, pinned by the tests against the real oidc-provider.
const BY_MESSAGE: readonly (readonly [RegExp, string])[] = [
  [/^response parameter "iss" \(issuer\) missing$/, 'iss_missing'],
  [/^unexpected "iss" \(issuer\) response parameter value$/, 'iss_mismatch'],
  [/^response parameter "state" missing$/, 'state_missing'],
  [/^unexpected "state" response parameter (value|encountered)$/, 'state_mismatch'],
  [/^JWT signature verification failed$/, 'id_token_signature_invalid'],
  [/^error when selecting a JWT verification key/, 'id_token_key_unknown'],
  [/^unexpected JWT "alg" header parameter$/, 'id_token_alg_unexpected'],
  [/^unsupported JWS (algorithm|"alg" identifier)/, 'id_token_alg_unsupported'],
  [/^(Invalid JWT|JWT (Header|Payload) must be|failed to parse JWT)/, 'id_token_malformed'],
  [/^JWT "\w+" \(.*\) claim missing$/, 'id_token_claim_missing'],
  [/"id_token" property/, 'id_token_missing'],
  [/^no authorization code/, 'code_missing'],
];

const BY_CLAIM: Readonly<Record<string, string>> = {
  nonce: 'nonce_mismatch',
  aud: 'id_token_audience_mismatch',
  azp: 'id_token_azp_mismatch',
  iss: 'id_token_issuer_mismatch',
  exp: 'id_token_expired',
  nbf: 'id_token_not_yet_valid',
  iat: 'id_token_issued_at_invalid',
  auth_time: 'auth_time_too_old',
  c_hash: 'id_token_code_hash_mismatch',
  s_hash: 'id_token_state_hash_mismatch',
};

const BY_CODE: Readonly<Record<string, string>> = {
  OAUTH_RESPONSE_IS_NOT_CONFORM: 'unexpected_http_status',
  OAUTH_RESPONSE_IS_NOT_JSON: 'response_not_json',
  OAUTH_PARSE_ERROR: 'response_malformed',
};

/** Classifies an openid-client failure (the error, and the errors it wraps). */
export function oidcFailure(error: unknown): OidcFailure {
  let fallback: string | undefined;
  for (let current: unknown = error, depth = 0; depth < 6; depth++) {
    if (typeof current !== 'object' || current === null) break;
    const { code, message, cause } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    const oauthError = (current as { error?: unknown }).error;
    // An `error` the IdP sent: from the token endpoint, or in the callback's query string.
    if (typeof oauthError === 'string' && /^[\x20-\x7e]{1,64}$/.test(oauthError)) {
      if (code === 'OAUTH_RESPONSE_BODY_ERROR')
        return { reason: 'token_endpoint_error', oauthError };
      if (code === 'OAUTH_AUTHORIZATION_RESPONSE_ERROR' || oauthError === 'access_denied') {
        return {
          reason: oauthError === 'access_denied' ? 'access_denied' : 'authorization_error',
          oauthError,
        };
      }
    }
    if (typeof message === 'string') {
      const match = BY_MESSAGE.find(([pattern]) => pattern.test(message));
      if (match !== undefined) return { reason: match[1] };
    }
    const claim = (cause as { claim?: unknown } | undefined)?.claim;
    if (
      (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' ||
        code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') &&
      typeof claim === 'string' &&
      Object.hasOwn(BY_CLAIM, claim)
    ) {
      return { reason: BY_CLAIM[claim] ?? 'invalid_response' };
    }
    if (typeof code === 'string' && Object.hasOwn(BY_CODE, code)) fallback ??= BY_CODE[code];
    current = cause;
  }
  return { reason: fallback ?? 'invalid_response' };
}
