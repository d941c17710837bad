import type { AuthenticatorOptions } from '../../bearer/authenticator-options.js';
import { serviceAccountRules } from '../../bearer/compile-issuers.js';
import { CLAIM_PRESETS } from '../../core/claim-presets.js';
import { readString, type Claims } from '../../core/claims.js';
import type { Identity } from '../../core/identity.js';
import { createIdentityMapper } from '../../core/identity-mapping.js';
import { resolveFieldPaths } from '../../core/field-mapping.js';
import { findServiceAccountRule } from '../../core/service-accounts.js';
import { withVerifiedEmailOnly } from '../../core/verified-email.js';
import type { IssuerView } from './bearer-settings.js';
import { ruleEvidence } from './service-account-evidence.js';
import { bounded } from './token-view.js';

/** The identity a token gives, and where each part came from: what the report shows of it. */
export interface IdentitySummary {
  /** True: the authenticator built it from the verified token. False: computed for display. */
  readonly verified: boolean;
  readonly subject: string;
  readonly username: string;
  /** The claim the username was read from. */
  readonly usernameClaim: string | undefined;
  readonly email: string | undefined;
  readonly kind: 'user' | 'service';
  readonly serviceAccountRule: string | undefined;
  /** Why that rule matched, in terms of the token's claims. */
  readonly serviceAccountReason: string | undefined;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[];
  readonly groups: readonly string[];
  readonly groupsComplete: boolean;
  readonly roles: readonly string[];
  /** The claims groups are read from (the preset's, or the mapping's). */
  readonly groupClaims: readonly string[];
  /** The claims roles are read from directly, before `role_mapping`. */
  readonly roleClaims: readonly string[];
  /** `Sales-Team -> sales_readonly`: each `role_mapping` entry that gave a role. */
  readonly mappedRoles: readonly string[];
  /** The `role_mapping` keys, to compare with the groups the token carries. */
  readonly roleMappingKeys: readonly string[];
  readonly attributes: Readonly<Record<string, unknown>>;
}

/**
 * What to show of an identity: the one the authenticator built when the token was accepted
 * (`identity`), otherwise the same mapping and service-account rules applied to the token's
 * unverified claims, so that an expired token still shows which roles it would have given.
 *
 * @example
 * ```ts
 * const summary = summarizeIdentity({ identity, claims: view.payload, issuer, options });
 * summary.roles; // ['sales_readonly']
 * ```
 */
export function summarizeIdentity(input: {
  readonly identity: Identity | undefined;
  readonly claims: Claims;
  readonly issuer: IssuerView;
  readonly options: AuthenticatorOptions;
}): IdentitySummary {
  const { claims, issuer, options } = input;
  const identity = input.identity ?? computedIdentity(claims, issuer, options);
  const paths = resolveFieldPaths(CLAIM_PRESETS[issuer.preset], issuer.mapping);
  const usernamePaths = issuer.userClaim === undefined ? paths.fields.username : [issuer.userClaim];
  const trusted = withVerifiedEmailOnly(claims, true).trusted;
  const roleMapping = Object.entries(issuer.mapping?.role_mapping ?? {});
  return {
    verified: input.identity !== undefined,
    subject: bounded(identity.subject),
    username: bounded(identity.username),
    usernameClaim: usernamePaths.find((path) => readString(trusted, [path]) !== undefined),
    email: identity.email === undefined ? undefined : bounded(identity.email),
    kind: identity.kind,
    serviceAccountRule: identity.serviceAccountRule,
    serviceAccountReason:
      identity.serviceAccountRule === undefined
        ? undefined
        : ruleEvidence(
            identity.serviceAccountRule,
            claims,
            {
              subject: identity.subject,
              username: identity.username,
              email: identity.email,
              clientId: identity.clientId,
            },
            options.serviceAccounts?.denyPatterns ?? [],
          ),
    clientId: identity.clientId === undefined ? undefined : bounded(identity.clientId),
    scopes: identity.scopes.map((scope) => bounded(scope, 100)),
    groups: identity.groups.map((group) => bounded(group, 100)),
    groupsComplete: identity.groupsComplete,
    roles: identity.roles.map((role) => bounded(role, 100)),
    groupClaims: paths.fields.groups,
    roleClaims: paths.fields.roles,
    mappedRoles: roleMapping
      .filter(([source]) => identity.groups.includes(source) || identity.roles.includes(source))
      .map(([source, target]) => `${source} -> ${[target].flat().join(', ')}`),
    roleMappingKeys: roleMapping.map(([source]) => source),
    attributes: identity.attributes,
  };
}

// The middleware's mapping (identity-from-token.ts), applied to claims it never accepted: the
// same mapper, the same e-mail rule and the same service-account rules, without the groups
// resolver (it would call the application's code for a refused token).
function computedIdentity(
  claims: Claims,
  issuer: IssuerView,
  options: AuthenticatorOptions,
): Omit<Identity, 'issuer' | 'provider'> {
  const { trusted } = withVerifiedEmailOnly(claims, true);
  const mapper = createIdentityMapper({
    preset: issuer.preset,
    ...(issuer.mapping === undefined ? {} : { mapping: issuer.mapping }),
    ...(issuer.userClaim === undefined ? {} : { userClaim: issuer.userClaim }),
  });
  const mapped = mapper.map(trusted);
  const rules = serviceAccountRules(options.serviceAccounts);
  const rule = findServiceAccountRule({ claims, ...mapped }, rules);
  const subject = mapped.subject ?? mapped.clientId ?? 'unknown';
  return {
    subject,
    kind: rule === undefined ? 'user' : 'service',
    ...(rule === undefined ? {} : { serviceAccountRule: rule.name }),
    username: mapped.username ?? subject,
    ...(mapped.email === undefined ? {} : { email: mapped.email }),
    ...(mapped.clientId === undefined ? {} : { clientId: mapped.clientId }),
    groups: mapped.groups,
    groupsComplete: !mapped.groupsOverage,
    roles: mapper.rolesFor(mapped.groups, mapped.roles),
    scopes: mapped.scopes,
    attributes: mapped.attributes,
  };
}

/**
 * Groups that miss a `role_mapping` key only by letter case: keys match exactly, and this is
 * the most common reason a user in the right group gets no role.
 *
 * @example
 * ```ts
 * caseOnlyMismatches(['sales-team'], ['Sales-Team']); // ['"sales-team" (role_mapping has "Sales-Team")']
 * ```
 */
export function caseOnlyMismatches(
  groups: readonly string[],
  keys: readonly string[],
): readonly string[] {
  return groups.flatMap((group) => {
    if (keys.includes(group)) return [];
    const near = keys.find((key) => key.toLowerCase() === group.toLowerCase());
    return near === undefined ? [] : [`"${group}" (role_mapping has "${near}")`];
  });
}
