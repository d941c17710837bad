import type { ClaimPresetName } from '../../core/claim-presets.js';
import type { Claims } from '../../core/claims.js';
import { createIdentity, type Identity } from '../../core/identity.js';
import { createIdentityMapper, type ParsedMapping } from '../../core/identity-mapping.js';
import { withVerifiedEmailOnly } from '../../core/verified-email.js';

/** How ID-token claims become an {@link Identity}, compiled once per sign-in configuration. */
export interface OidcIdentityMapper {
  toIdentity(claims: Claims & { sub: string; iss: string }): Identity;
}

/**
 * The OIDC sign-in's mapping: the provider's claim preset and the application's mapping, with
 * the `email` claim used only when the IdP has verified it (see `withVerifiedEmailOnly`).
 */
export function createOidcIdentityMapper(options: {
  preset: ClaimPresetName;
  mapping: ParsedMapping | undefined;
  trustEmailWithoutVerifiedClaim: boolean;
}): OidcIdentityMapper {
  const mapper = createIdentityMapper({
    preset: options.preset,
    ...(options.mapping === undefined ? {} : { mapping: options.mapping }),
  });
  return {
    toIdentity(claims) {
      const { trusted, unverifiedEmail } = withVerifiedEmailOnly(
        claims,
        options.trustEmailWithoutVerifiedClaim,
      );
      const mapped = mapper.map(trusted);
      return createIdentity({
        // The subject at this issuer keys the person; an email address can be edited by its owner.
        subject: claims.sub,
        issuer: claims.iss,
        provider: 'oidc',
        kind: 'user',
        username: mapped.username ?? claims.sub,
        ...(mapped.email === undefined ? {} : { email: mapped.email }),
        ...(mapped.name === undefined ? {} : { name: mapped.name }),
        groups: mapped.groups,
        groupsComplete: !mapped.groupsOverage,
        roles: mapper.rolesFor(mapped.groups, mapped.roles),
        scopes: [],
        attributes: {
          ...mapped.attributes,
          ...(unverifiedEmail === undefined ? {} : { unverified_email: unverifiedEmail }),
        },
      });
    },
  };
}
