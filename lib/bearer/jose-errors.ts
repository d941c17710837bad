import { errors } from 'jose';
import { IdentityError } from '../core/errors.js';

/**
 * Translates jose's verification errors into this package's codes and messages. jose's own
 * messages are kept only as the `cause` (for logs): clients get text written for them.
 */
export function joseErrorToIdentityError(
  error: unknown,
  audience: readonly string[],
  nowSec: number,
): IdentityError {
  if (error instanceof IdentityError) return error;
  if (error instanceof errors.JWTExpired) {
    return error.claim === 'iat'
      ? new IdentityError(
          'token_too_old',
          'The token was issued longer ago than this API accepts. Sign in again to get a fresh token.',
          { cause: error, details: { claim: 'iat' } },
        )
      : new IdentityError(
          'token_expired',
          'The access token has expired. Sign in again or refresh the token, then retry.',
          { cause: error, details: { claim: 'exp', ...clockDifference(error.payload, nowSec) } },
        );
  }
  if (error instanceof errors.JWTClaimValidationFailed) return claimRefusal(error, audience);
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new IdentityError(
      'token_signature_invalid',
      'The token signature does not verify: the token was altered, or it was signed with a different key than this API is configured with.',
      { cause: error },
    );
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new IdentityError(
      'token_algorithm_refused',
      "The token's signing algorithm is not accepted for this issuer's key.",
      { cause: error },
    );
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported and anything unexpected: fail closed as a
  // malformed token, keeping the original error for the logs.
  return new IdentityError(
    'token_malformed',
    'The bearer token could not be read as a signed JWT.',
    { cause: error },
  );
}

type ClaimValidationFailed = InstanceType<typeof errors.JWTClaimValidationFailed>;

// A claim jose found missing, of the wrong type, or of the wrong value.
function claimRefusal(error: ClaimValidationFailed, audience: readonly string[]): IdentityError {
  const details = { claim: error.claim };
  if (error.reason === 'missing') {
    return new IdentityError(
      'token_claim_missing',
      `The token lacks the required "${error.claim}" claim. Configure the identity provider to include it.`,
      { cause: error, details },
    );
  }
  if (error.reason === 'invalid') {
    return new IdentityError(
      'token_claim_invalid',
      `The token's "${error.claim}" claim has the wrong type.`,
      {
        cause: error,
        details,
      },
    );
  }
  return error.claim === 'aud' ? audienceRefusal(error, audience) : claimValueRefusal(error);
}

function audienceRefusal(error: ClaimValidationFailed, audience: readonly string[]): IdentityError {
  return new IdentityError(
    'token_audience_invalid',
    `The token is not meant for this API: its audience must include ${audience.map((value) => `"${value}"`).join(' or ')}. Request a token for this API.`,
    // Both sides, for the operator: which API the token was requested for is the fix.
    {
      cause: error,
      details: {
        claim: error.claim,
        expected: [...audience],
        carried: carriedAudience(error.payload),
      },
    },
  );
}

// A claim other than the audience, present and of the right type, with a value refused.
function claimValueRefusal(error: ClaimValidationFailed): IdentityError {
  const details = { claim: error.claim };
  switch (error.claim) {
    case 'nbf':
    case 'iat':
      return new IdentityError(
        'token_not_yet_valid',
        'The token is not valid yet. Check the clocks of the identity provider and this server.',
        { cause: error, details },
      );
    case 'typ':
      return new IdentityError(
        'token_type_invalid',
        'This API accepts only OAuth access tokens (typ "at+jwt", RFC 9068); an ID token or other JWT was sent.',
        { cause: error, details },
      );
    case 'iss':
      return new IdentityError(
        'token_issuer_unknown',
        'The token was issued by an issuer this API does not trust.',
        { cause: error, details },
      );
    default:
      return new IdentityError(
        'token_claim_invalid',
        `The token's "${error.claim}" claim is invalid.`,
        { cause: error, details },
      );
  }
}

// How long ago the token expired, by this server's clock: a few seconds means a slow client or
// refresh; hours mean a stale token; a token "expired" in the future means a clock apart.
function clockDifference(payload: Record<string, unknown>, nowSec: number): Record<string, number> {
  const exp = payload['exp'];
  return typeof exp === 'number' && Number.isFinite(exp)
    ? { exp, expired_sec_ago: Math.round(nowSec - exp) }
    : {};
}

// The token's own audience, bounded: it comes from the token, not from this configuration.
function carriedAudience(payload: Record<string, unknown>): string[] {
  const aud = payload['aud'];
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  return values
    .filter((value): value is string => typeof value === 'string')
    .slice(0, 5)
    .map((value) => value.slice(0, 200));
}
