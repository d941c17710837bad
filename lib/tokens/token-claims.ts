import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { createIdentity, type Actor, type Identity } from '../core/identity.js';

// A user in hundreds of directory groups would make every token, and every request, huge.
// Past this many the token carries none and says so the way Entra ID does (`hasgroups`), so
// group checks on it refuse rather than decide on a partial list; roles are still carried.
const MAX_GROUPS_IN_TOKEN = 200;

/**
 * The claims a token issued by this package carries about its user: only what downstream
 * services need to decide (who, how to reach them, which groups and roles). Never a password,
 * never the upstream credential the user signed in with.
 */
export function userClaims(identity: Identity, ownIssuer: string): JWTPayload {
  const complete = identity.groupsComplete && identity.groups.length <= MAX_GROUPS_IN_TOKEN;
  return {
    sub: subjectFor(identity, ownIssuer),
    preferred_username: identity.username,
    ...(identity.email === undefined ? {} : { email: identity.email }),
    ...(identity.name === undefined ? {} : { name: identity.name }),
    ...(complete ? { groups: [...identity.groups] } : { hasgroups: true }),
    roles: [...identity.roles],
    // How the person signed in (ldap, saml, oidc, jwt): audit trails downstream keep it.
    idp: identity.provider,
  };
}

/**
 * The `sub` of tokens this package issues. A subject is unique only at its own issuer: `alice`
 * at the directory and `alice` at a self-service IdP are different people, and every token of
 * this package has the same `iss`. So a person from another issuer gets a subject derived from
 * both (like OIDC's pairwise identifiers): stable for them, and distinct across issuers.
 */
export function subjectFor(identity: Identity, ownIssuer: string): string {
  if (identity.issuer === ownIssuer) return identity.subject;
  return createHash('sha256')
    .update(identity.issuer)
    .update('\u0000')
    .update(identity.subject)
    .digest('base64url');
}

/**
 * The RFC 8693 §4.1 `act` claim for `agent` acting for the identity. When the identity already
 * arrived through a delegation, that chain is kept under the new actor: the most recent actor
 * is outermost, as §4.1 prescribes.
 */
export function actClaim(agent: string, previous: Actor | undefined): Record<string, unknown> {
  return { sub: agent, ...(previous === undefined ? {} : { act: actorClaim(previous) }) };
}

function actorClaim(actor: Actor): Record<string, unknown> {
  return {
    sub: actor.subject,
    ...(actor.issuer === undefined ? {} : { iss: actor.issuer }),
    ...(actor.clientId === undefined ? {} : { client_id: actor.clientId }),
    ...(actor.actor === undefined ? {} : { act: actorClaim(actor.actor) }),
  };
}

/** The person a session or refresh token names, for the audit events of refresh and sign-out. */
export function identityFromSessionClaims(
  claims: JWTPayload & { sub: string; jti: string },
): Identity {
  const text = (name: string): string | undefined =>
    typeof claims[name] === 'string' ? claims[name] : undefined;
  const list = (name: string): string[] => {
    const value = claims[name];
    return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
  };
  const email = text('email');
  const name = text('name');
  return createIdentity({
    subject: claims.sub,
    issuer: claims.iss ?? '',
    provider: text('idp') ?? 'jwt',
    kind: 'user',
    username: text('preferred_username') ?? claims.sub,
    ...(email === undefined ? {} : { email }),
    ...(name === undefined ? {} : { name }),
    groups: list('groups'),
    groupsComplete: claims['hasgroups'] !== true,
    roles: list('roles'),
    scopes: [],
    attributes: {},
    tokenId: claims.jti,
  });
}
