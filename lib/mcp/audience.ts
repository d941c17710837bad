import { IdentityError } from '../core/errors.js';
import { credentialOf, type Identity } from '../core/identity.js';

/**
 * Refuses a token that names other resources besides this MCP server (unless allowed): whoever
 * receives it there could replay it here, and the MCP specification asks for tokens issued for
 * the server alone (RFC 8707). The authenticator has already checked that it names this one.
 */
export function checkSoleAudience(
  identity: Identity,
  resource: string,
  acceptOtherAudiences: boolean,
): void {
  if (acceptOtherAudiences) return;
  const others = (credentialOf(identity)?.audience ?? []).filter(
    (audience) => !sameResource(audience, resource),
  );
  if (others.length === 0) return;
  throw new IdentityError(
    'token_audience_invalid',
    'The token is also valid for other resources, so it could be replayed there; request a token for this MCP server alone (the RFC 8707 "resource" parameter).',
    { details: { other_audiences: others.slice(0, 10) } },
  );
}

/** A resource URI and an audience name the same server: fragment and one trailing slash aside. */
function sameResource(audience: string, resource: string): boolean {
  const trim = (value: string) => value.replace(/#.*$/su, '').replace(/\/$/u, '');
  return trim(audience) === trim(resource);
}
