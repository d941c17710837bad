import { decodeJwt } from 'jose';
import { IdentityError, isIdentityError } from '../core/errors.js';
import type { CredentialStrategy } from './upstream.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import type { OidcSignIn } from '../sign-in/oidc/oidc-sign-in.js';

/**
 * `oidc-session`: the signed-in user's current access token from their identity provider, kept
 * server-side and refreshed before it expires (a long AI conversation does not die mid-way),
 * sent only to an upstream its `aud` names. When the IdP refuses the refresh, the session ends
 * and the caller gets 401 `session_expired`.
 *
 * @example
 * ```ts
 * createPassthrough({ upstreams: { graph: { origin, audience,
 *   strategy: oidcSessionStrategy({ oidc, tokens: sessions }) } } });
 * ```
 */
export function oidcSessionStrategy(options: {
  oidc: Pick<OidcSignIn, 'accessToken'>;
  tokens: Pick<SessionTokens, 'revoke'>;
}): CredentialStrategy {
  const { oidc, tokens } = options;
  return Object.freeze({
    name: 'oidc-session',
    async credentialFor(identity, upstream) {
      const sessionId = identity.sessionId;
      // Only an OIDC sign-in left IdP tokens behind; any other session has none (and must not
      // be ended for lacking them).
      if (sessionId === undefined || identity.provider !== 'oidc') {
        throw new IdentityError(
          'credentials_missing',
          'This identity did not sign in through OIDC in this application, so there is no IdP token to send.',
          { details: { upstream: upstream.name, strategy: 'oidc-session' } },
        );
      }
      let token: string;
      try {
        token = await oidc.accessToken(sessionId);
      } catch (error) {
        // The user's IdP session is over: so is this one, at once, on every instance.
        if (isIdentityError(error) && error.code === 'session_expired') {
          await tokens.revoke(sessionId).catch(() => undefined);
        }
        throw error;
      }
      if (
        !upstream.dangerouslySkipAudienceCheck &&
        !audienceOf(token).includes(upstream.audience)
      ) {
        throw new IdentityError(
          'upstream_audience_mismatch',
          `The user's IdP token was not issued for "${upstream.name}" (its audience does not include "${upstream.audience}"), so it is not sent there. Use the exchange strategy to get one for this upstream.`,
          { details: { upstream: upstream.name, audience: upstream.audience } },
        );
      }
      return token;
    },
  } satisfies CredentialStrategy);
}

/** The audiences of a JWT access token; none for an opaque token (which is then not sent). */
function audienceOf(token: string): string[] {
  try {
    const { aud } = decodeJwt(token);
    return typeof aud === 'string' ? [aud] : (aud ?? []);
  } catch {
    return [];
  }
}
