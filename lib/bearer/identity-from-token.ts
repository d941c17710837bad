import type { JWTPayload } from 'jose';
import { parseActor } from '../core/actor.js';
import type { Claims } from '../core/claims.js';
import { IdentityError } from '../core/errors.js';
import {
  createIdentity,
  type Credential,
  type Identity,
  type IdentityInput,
} from '../core/identity.js';
import type { IdentityMapper, MappedClaims } from '../core/identity-mapping.js';
import { findServiceAccountRule, type ServiceAccountRule } from '../core/service-accounts.js';
import { withVerifiedEmailOnly } from '../core/verified-email.js';
import type { TrustedIssuer, VerifiedToken } from './token-verifier.js';

/** A trusted issuer with the rules that turn its claims into an {@link Identity}. */
export interface IdentityIssuer extends TrustedIssuer {
  readonly mapper: IdentityMapper;
  readonly userClaim: string | undefined;
  readonly resolveGroups: ((claims: Claims) => Promise<readonly string[]>) | undefined;
  readonly isRevoked: ((claims: Claims) => boolean | Promise<boolean>) | undefined;
  readonly providerClaim: string | undefined;
}

/**
 * Builds the normalized identity of a verified token: mapped claims, groups (resolved when the
 * provider left them out), roles through the role mapping, the RFC 8693 actor, and the
 * user/service classification. Synchronous unless groups must be resolved: a promise per
 * token is measurable at thousands of new tokens a second.
 */
export function identityFromToken(
  verified: VerifiedToken<IdentityIssuer>,
  token: string,
  tokenDigest: string,
  rules: readonly ServiceAccountRule[],
): Identity | Promise<Identity> {
  const { claims, issuer } = verified;
  // An email its own issuer marks unverified is never the user's email (nor, through a
  // preset's fallback, the username): a gateway keying rows on it would hand out another's.
  const { trusted, unverifiedEmail } = withVerifiedEmailOnly(claims, true);
  const mapped = issuer.mapper.map(trusted);
  requireUserClaim(issuer, mapped.username);
  const facts: TokenFacts = { verified, token, tokenDigest, rules, mapped, unverifiedEmail };
  if (mapped.groupsOverage && issuer.resolveGroups !== undefined) {
    return resolvedGroups(issuer.resolveGroups, claims).then((groups) =>
      buildIdentity(facts, groups, true),
    );
  }
  return buildIdentity(facts, mapped.groups, !mapped.groupsOverage);
}

/** What {@link identityFromToken} has read from a token before its groups are known. */
interface TokenFacts {
  readonly verified: VerifiedToken<IdentityIssuer>;
  readonly token: string;
  readonly tokenDigest: string;
  readonly rules: readonly ServiceAccountRule[];
  readonly mapped: MappedClaims;
  readonly unverifiedEmail: string | undefined;
}

function buildIdentity(
  facts: TokenFacts,
  groups: readonly string[],
  groupsComplete: boolean,
): Identity {
  const { verified, mapped, unverifiedEmail } = facts;
  const { claims, issuer } = verified;
  const rule = serviceAccountRuleFor(claims, mapped, facts.rules);
  const actor = parseActor(claims['act']);
  const subject = mapped.subject ?? mapped.clientId ?? 'unknown';
  const input: Mutable<IdentityInput> = {
    subject,
    issuer: issuer.issuer,
    provider: providerOf(claims, issuer.providerClaim),
    kind: rule === undefined ? 'user' : 'service',
    username: mapped.username ?? subject,
    groups,
    groupsComplete,
    roles: issuer.mapper.rolesFor(groups, mapped.roles),
    scopes: mapped.scopes,
    attributes:
      unverifiedEmail === undefined
        ? mapped.attributes
        : { ...mapped.attributes, unverified_email: unverifiedEmail },
    tokenDigest: facts.tokenDigest,
  };
  if (rule !== undefined) input.serviceAccountRule = rule.name;
  if (mapped.email !== undefined) input.email = mapped.email;
  if (mapped.name !== undefined) input.name = mapped.name;
  if (actor !== undefined) input.actor = actor;
  if (mapped.clientId !== undefined) input.clientId = mapped.clientId;
  if (typeof claims.exp === 'number') input.expiresAt = claims.exp;
  if (typeof claims.jti === 'string' && claims.jti.length > 0) input.tokenId = claims.jti;
  // Only this package's own tokens (an issuer with a provider claim) name its sessions.
  if (issuer.providerClaim !== undefined && typeof claims['sid'] === 'string') {
    input.sessionId = claims['sid'];
  }
  return createIdentity(input, bearerCredential(claims, facts.token));
}

type Mutable<T> = { -readonly [Key in keyof T]: T[Key] };

function serviceAccountRuleFor(
  claims: Claims,
  mapped: MappedClaims,
  rules: readonly ServiceAccountRule[],
): ServiceAccountRule | undefined {
  return findServiceAccountRule(
    {
      claims,
      subject: mapped.subject,
      username: mapped.username,
      email: mapped.email,
      clientId: mapped.clientId,
    },
    rules,
  );
}

function bearerCredential(claims: JWTPayload, token: string): Credential {
  return {
    type: 'bearer',
    value: token,
    audience: typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []),
    ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp } : {}),
  };
}

// The configured user claim (a gateway's DF_JWT_USER_CLAIM) must name the user.
function requireUserClaim(issuer: IdentityIssuer, username: string | undefined): void {
  if (issuer.userClaim !== undefined && username === undefined) {
    throw new IdentityError(
      'token_claim_missing',
      `The token has no "${issuer.userClaim}" claim naming the user (the configured user claim). Configure the identity provider to include it, or change userClaim.`,
      { details: { claim: issuer.userClaim } },
    );
  }
}

// The groups a provider left out of the token (Entra ID's overage), from the application's
// resolver; failing to load them is an outage, never "no groups".
async function resolvedGroups(
  resolveGroups: (claims: Claims) => Promise<readonly string[]>,
  claims: Claims,
): Promise<string[]> {
  try {
    return [...(await resolveGroups(claims))];
  } catch (cause) {
    throw new IdentityError(
      'identity_provider_unavailable',
      "The user's groups could not be loaded from the identity provider; retry shortly.",
      { cause, details: { step: 'resolveGroups' } },
    );
  }
}

// Only an issuer configured with a provider claim (this package's own) may name the sign-in
// method; for others an `idp` claim means something else (Entra ID puts a guest's home there).
function providerOf(claims: Claims, providerClaim: string | undefined): string {
  const value = providerClaim === undefined ? undefined : claims[providerClaim];
  return typeof value === 'string' && /^[a-z0-9-]{1,32}$/.test(value) ? value : 'jwt';
}
