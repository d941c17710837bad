import type { RouteRequirements } from '../../core/route-requirements.js';
import { caseOnlyMismatches, type IdentitySummary } from './identity-report.js';
import type { Observation } from './token-checks.js';

/** What a route's `requireUser()` asks, as given on the command line. */
export interface GuardRequirements {
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly groups: readonly string[];
  readonly allowServiceAccounts: boolean;
}

/**
 * The `requireUser()` options the command-line requirements stand for: a list of roles or
 * groups means any of them, every scope is required, as in the route guard.
 *
 * @example
 * ```ts
 * routeRequirements({ roles: ['a'], scopes: [], groups: [], allowServiceAccounts: false });
 * // { roles: ['a'] }
 * ```
 */
export function routeRequirements(guard: GuardRequirements): RouteRequirements {
  return {
    ...(guard.roles.length === 0 ? {} : { roles: [...guard.roles] }),
    ...(guard.scopes.length === 0 ? {} : { scopes: [...guard.scopes] }),
    ...(guard.groups.length === 0 ? {} : { groups: [...guard.groups] }),
    ...(guard.allowServiceAccounts ? { dangerouslyAllowServiceAccounts: true } : {}),
  };
}

/**
 * The route guard as code would spell it, for the report.
 *
 * @example
 * ```ts
 * describeGuard({ roles: ['sales_readonly'], scopes: [], groups: [], allowServiceAccounts: false });
 * // "requireUser({ roles: ['sales_readonly'] })"
 * ```
 */
export function describeGuard(guard: GuardRequirements): string {
  const list = (values: readonly string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;
  const parts = [
    ...(guard.scopes.length === 0 ? [] : [`scopes: ${list(guard.scopes)}`]),
    ...(guard.roles.length === 0 ? [] : [`roles: ${list(guard.roles)}`]),
    ...(guard.groups.length === 0 ? [] : [`groups: ${list(guard.groups)}`]),
    ...(guard.allowServiceAccounts ? ['dangerouslyAllowServiceAccounts: true'] : []),
  ];
  return parts.length === 0 ? 'requireUser()' : `requireUser({ ${parts.join(', ')} })`;
}

/**
 * Whether the identity is a person, and if not, which service-account rule said so and why.
 *
 * @example
 * ```ts
 * observeServiceAccount(summary, guard).summary; // 'a person: no service-account rule matched'
 * ```
 */
export function observeServiceAccount(
  identity: IdentitySummary | undefined,
  guard: GuardRequirements,
): Observation {
  if (identity === undefined) return { ok: false, summary: 'no identity to classify' };
  if (identity.kind === 'user') {
    return { ok: true, summary: 'a person: no service-account rule matched' };
  }
  const why = `rule "${identity.serviceAccountRule ?? 'unknown'}" matched: ${identity.serviceAccountReason ?? ''}`;
  return {
    ok: guard.allowServiceAccounts,
    summary: `a service account, not a person: ${why}${guard.allowServiceAccounts ? ' (allowed by --allow-service-accounts)' : ''}`,
    details: { rule: identity.serviceAccountRule ?? null },
  };
}

/**
 * The route's scopes against the token's.
 *
 * @example
 * ```ts
 * observeScopes(summary, ['orders.read']).summary; // 'needs orders.read; the token has openid, orders.read'
 * ```
 */
export function observeScopes(
  identity: IdentitySummary | undefined,
  required: readonly string[],
): Observation {
  const held = identity?.scopes ?? [];
  const missing = required.filter((scope) => !held.includes(scope));
  return {
    ok: identity !== undefined && missing.length === 0,
    summary: `needs ${required.join(', ')}; the token has ${held.length === 0 ? 'no scopes' : held.join(', ')}`,
    details: { required, missing },
  };
}

/**
 * The route's roles against the user's, with what led to them: the groups read from the token,
 * the `role_mapping` entries that applied, and groups that miss a key only by letter case.
 *
 * @example
 * ```ts
 * observeRoles(summary, ['sales_readonly']).summary;
 * // 'needs sales_readonly; the user has none; groups (claim groups): sales-team; ...'
 * ```
 */
export function observeRoles(
  identity: IdentitySummary | undefined,
  required: readonly string[],
): Observation {
  if (identity === undefined) return { ok: false, summary: `needs ${required.join(' or ')}` };
  const ok = required.some((role) => identity.roles.includes(role));
  const groups =
    identity.groups.length === 0
      ? `no groups in the token (read from claim ${identity.groupClaims.join(', ')})`
      : `groups (claim ${identity.groupClaims.join(', ')}): ${identity.groups.join(', ')}`;
  const mapping =
    identity.roleMappingKeys.length === 0
      ? 'no role_mapping configured'
      : identity.mappedRoles.length === 0
        ? `no role_mapping key matched (keys: ${identity.roleMappingKeys.join(', ')})`
        : `role_mapping: ${identity.mappedRoles.join('; ')}`;
  const nearMisses = caseOnlyMismatches(identity.groups, identity.roleMappingKeys);
  const parts = [
    `needs ${required.length > 1 ? 'one of ' : ''}${required.join(', ')}`,
    `the user has ${identity.roles.length === 0 ? 'none' : identity.roles.join(', ')}`,
    groups,
    mapping,
    ...(nearMisses.length === 0
      ? []
      : [`keys match exactly, case included: ${nearMisses.join(', ')}`]),
  ];
  return { ok, summary: parts.join('; '), details: { required, roles: identity.roles } };
}

/**
 * The route's groups against the user's.
 *
 * @example
 * ```ts
 * observeGroups(summary, ['AI Users']).summary; // 'needs AI Users; the user is in Sales-Team, AI Users'
 * ```
 */
export function observeGroups(
  identity: IdentitySummary | undefined,
  required: readonly string[],
): Observation {
  const held = identity?.groups ?? [];
  const complete = identity?.groupsComplete ?? false;
  return {
    ok: complete && required.some((group) => held.includes(group)),
    summary: `needs ${required.length > 1 ? 'one of ' : ''}${required.join(', ')}; the user is in ${held.length === 0 ? 'no groups' : held.join(', ')}${complete ? '' : ' (incomplete: groups overage)'}`,
    details: { required, groups: held },
  };
}
