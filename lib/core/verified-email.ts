import type { Claims } from './claims.js';

/**
 * The claims with the `email` claim removed unless the IdP vouches for it (OIDC Core §5.1:
 * `email_verified`, the JSON boolean `true`). Many IdPs let a user type any address, and a
 * gateway that keys rows on email would then hand them someone else's rows. The claim is
 * removed before mapping, so no field can be read from it: not `email`, and not `username`
 * through a preset's fallback to `email`. A mapping's next path for `email` (Entra ID's `upn`,
 * which the directory controls) still applies. Bearer access tokens rarely carry
 * `email_verified` (Entra ID and Okta never do), so for them (`trustWithoutClaim`) only a claim
 * that is present and not `true` removes the email.
 */
export function withVerifiedEmailOnly(
  claims: Claims,
  trustWithoutClaim: boolean,
): { trusted: Claims; unverifiedEmail: string | undefined } {
  const verified = claims['email_verified'];
  if (
    claims['email'] === undefined ||
    verified === true ||
    (verified === undefined && trustWithoutClaim)
  ) {
    return { trusted: claims, unverifiedEmail: undefined };
  }
  const { email, ...rest } = claims;
  if (typeof email !== 'string') return { trusted: rest, unverifiedEmail: undefined };
  // The same address under another name is no more verified: an IdP that makes the email the
  // username (Keycloak's "email as username") sends it in `preferred_username` too. Only the
  // subject, which the IdP assigns, is kept whatever its value.
  const address = email.toLowerCase();
  const trusted: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(rest)) {
    if (name !== 'sub' && typeof value === 'string' && value.toLowerCase() === address) continue;
    trusted[name] = value;
  }
  return { trusted, unverifiedEmail: email };
}
