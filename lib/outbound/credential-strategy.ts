import { IdentityError } from '../core/errors.js';
import { credentialOf, type Identity } from '../core/identity.js';
import type { CredentialStrategy, Upstream } from './upstream.js';

/**
 * `forward`: send the user's own bearer token, and only to an upstream its `aud` names. A token
 * issued for another audience is refused, because the upstream could replay it against the
 * party it was meant for (MCP's authorization rules forbid this token passthrough).
 */
export const forwardStrategy: CredentialStrategy = Object.freeze({
  name: 'forward',
  credentialFor(identity: Identity, upstream: Upstream, nowMs: number): Promise<string> {
    const credential = credentialOf(identity);
    if (credential === undefined) {
      return Promise.reject(
        new IdentityError(
          'credentials_missing',
          'The identity has no bearer token to forward (it was not established from one). Use a strategy that issues a token for this upstream.',
          { details: { upstream: upstream.name, strategy: 'forward' } },
        ),
      );
    }
    if (credential.expiresAt !== undefined && credential.expiresAt * 1000 <= nowMs) {
      return Promise.reject(
        new IdentityError(
          'token_expired',
          "The user's access token has expired, so data cannot be fetched on their behalf. Sign in again or refresh the token, then retry.",
          { details: { upstream: upstream.name } },
        ),
      );
    }
    if (
      !upstream.dangerouslySkipAudienceCheck &&
      !credential.audience.includes(upstream.audience)
    ) {
      return Promise.reject(
        new IdentityError(
          'upstream_audience_mismatch',
          `The user's token was not issued for "${upstream.name}" (its audience does not include "${upstream.audience}"), so it is not forwarded there: the upstream could replay it elsewhere. Have the identity provider add that audience to the token, or give this upstream a strategy that issues its own token.`,
          { details: { upstream: upstream.name, audience: upstream.audience } },
        ),
      );
    }
    return Promise.resolve(credential.value);
  },
});
