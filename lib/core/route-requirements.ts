import type { z } from 'zod';
import { IdentityError } from './errors.js';
import { lazySchema } from './lazy-zod.js';
import { parseOptions } from './options.js';
import type { Identity } from './identity.js';

const names = lazySchema((z) => z.array(z.string().min(1)).min(1));
const nameRequirement = lazySchema((z) =>
  z.union([
    names(),
    z
      .strictObject({ anyOf: names().optional(), allOf: names().optional() })
      .refine((value) => value.anyOf !== undefined || value.allOf !== undefined, {
        message: 'needs "anyOf" or "allOf"',
      }),
  ]),
);

/** What a route asks of the identity; checked in this order, the first failure wins. */
export const requirementsShape = lazySchema((z) => ({
  /**
   * Default: false. Lets service accounts, app-only and client-credentials tokens through.
   * **Warning:** the AI then acts as a shared account, outside any one person's permissions,
   * and the audit trail can no longer say who asked.
   */
  dangerouslyAllowServiceAccounts: z.boolean().optional(),
  /** Scopes the token must all carry (403 `insufficient_scope` otherwise). */
  scopes: names().optional(),
  /** Roles: a list means any of them; or `{ anyOf, allOf }`. */
  roles: nameRequirement().optional(),
  /** Groups: a list means any of them; or `{ anyOf, allOf }`. */
  groups: nameRequirement().optional(),
  /** A final check of your own: return true to allow. */
  allow: z
    .custom<(identity: Identity) => boolean | Promise<boolean>>(
      (value) => typeof value === 'function',
    )
    .optional(),
}));

export const requirementsSchema = lazySchema((z) => z.strictObject(requirementsShape()));
/** What a route asks of the identity: service-account policy, scopes, roles, groups, a predicate. */
export type RouteRequirements = z.input<ReturnType<typeof requirementsSchema>>;
type ParsedRequirements = z.output<ReturnType<typeof requirementsSchema>>;
type NameRequirement = z.output<ReturnType<typeof nameRequirement>>;

// The synchronous checks (all but `allow`): kept synchronous so that a guarded request costs no
// promise when no predicate is configured.
function requirementRefusal(
  identity: Identity,
  requirements: ParsedRequirements,
): IdentityError | undefined {
  if (identity.kind === 'service' && requirements.dangerouslyAllowServiceAccounts !== true) {
    return new IdentityError(
      'service_account_refused',
      "This route acts on behalf of a person, and the credential belongs to a service account or application. Call it with the signed-in user's token.",
      { details: { rule: identity.serviceAccountRule ?? 'unknown' } },
    );
  }
  const needsGroups = requirements.roles !== undefined || requirements.groups !== undefined;
  if (needsGroups && !identity.groupsComplete) {
    return new IdentityError(
      'groups_unresolved',
      "The identity provider left the user's groups out of the token (too many groups), so roles cannot be checked. Configure resolveGroups, or emit groups as app roles.",
      { details: { reason: 'groups_overage' } },
    );
  }
  const missingScopes = (requirements.scopes ?? []).filter(
    (scope) => !identity.scopes.includes(scope),
  );
  if (missingScopes.length > 0) {
    return new IdentityError(
      'insufficient_scope',
      `The token lacks the scope${missingScopes.length > 1 ? 's' : ''} ${missingScopes.join(', ')}. Request a token with ${missingScopes.length > 1 ? 'these scopes' : 'this scope'}.`,
      { requiredScopes: requirements.scopes ?? [], details: { missing_scopes: missingScopes } },
    );
  }
  const roleProblem = unmet(requirements.roles, identity.roles);
  if (roleProblem !== undefined) {
    return new IdentityError(
      'role_missing',
      `This route needs ${roleProblem.description} role${roleProblem.plural ? 's' : ''} ${roleProblem.names}; the user has ${identity.roles.length === 0 ? 'none' : identity.roles.join(', ')}. Map one of the user's groups to a required role in role_mapping, or grant the role.`,
      { details: { required_roles: roleProblem.required } },
    );
  }
  const groupProblem = unmet(requirements.groups, identity.groups);
  if (groupProblem !== undefined) {
    return new IdentityError(
      'group_missing',
      `This route needs membership in ${groupProblem.description} group${groupProblem.plural ? 's' : ''} ${groupProblem.names}.`,
      { details: { required_groups: groupProblem.required } },
    );
  }
  return undefined;
}

/** A route's requirements, validated once: the one evaluator every adapter decides with. */
export interface RequirementsPolicy {
  /** The synchronous checks (all but `allow`): the refusal, or undefined when they pass. */
  refusal(identity: Identity): IdentityError | undefined;
  /** True when an `allow` predicate must also run (asynchronously). */
  readonly hasPredicate: boolean;
  /**
   * The `allow` predicate's refusal, or undefined when it allows. A predicate that throws or
   * answers anything but `true` refuses: fail closed, with the error kept for the logs.
   */
  predicateRefusal(identity: Identity): Promise<IdentityError | undefined>;
  /** Every check; resolves when allowed, rejects with the {@link IdentityError} otherwise. */
  check(identity: Identity | undefined): Promise<void>;
}

/**
 * Validates a route's requirements once and returns their evaluator. Throws a `TypeError`
 * naming the option for anything but the documented shapes: a requirement that cannot be read
 * must never read as "no requirement" (`roles: 'admin'` is not a list, and does not allow all).
 */
export function createRequirementsPolicy(
  requirements: RouteRequirements = {},
  factory = 'createRequirementsPolicy',
): RequirementsPolicy {
  const parsed = parseOptions(requirementsSchema(), requirements, factory);
  const allow = parsed.allow;
  const policy: RequirementsPolicy = {
    refusal: (identity) => requirementRefusal(identity, parsed),
    hasPredicate: allow !== undefined,
    async predicateRefusal(identity) {
      if (allow === undefined) return undefined;
      try {
        // Only `true` allows: a predicate written in JavaScript may answer anything.
        const answer: unknown = await allow(identity);
        if (answer === true) return undefined;
        return new IdentityError(
          'access_denied',
          "This route's access policy does not allow this user.",
          {
            details: { rule: 'allow' },
          },
        );
      } catch (error) {
        return new IdentityError(
          'access_denied',
          "This route's access policy could not be evaluated.",
          {
            cause: error,
            details: { rule: 'allow' },
          },
        );
      }
    },
    async check(identity) {
      if (!isIdentity(identity)) {
        throw new IdentityError(
          'credentials_missing',
          "This action runs on behalf of a person, and no signed-in user's identity was given.",
        );
      }
      const refusal = policy.refusal(identity) ?? (await policy.predicateRefusal(identity));
      if (refusal !== undefined) throw refusal;
    },
  };
  return Object.freeze(policy);
}

/**
 * Checks an identity against a route's requirements; resolves when allowed, rejects with an
 * {@link IdentityError} that says what is missing and how to get it otherwise. The framework-free
 * form of `requireUser()`: the same validation (a `TypeError` naming the option) and the same
 * evaluator. The requirements are read on every call, so a changed object is never judged by
 * its old contents; for a fixed set, {@link createRequirementsPolicy} validates once.
 *
 * @example
 * ```ts
 * await checkRequirements(getCurrentIdentity(), { roles: ['sales_readonly'] });
 * ```
 */
export async function checkRequirements(
  identity: Identity | undefined,
  requirements: RouteRequirements,
): Promise<void> {
  // Typed, but called from JavaScript too: a string or null must not read as "no requirement".
  const given: unknown = requirements;
  if (typeof given !== 'object' || given === null) {
    throw new TypeError(
      'checkRequirements: option "requirements" must be an object of requirements',
    );
  }
  await createRequirementsPolicy(requirements, 'checkRequirements').check(identity);
}

function isIdentity(value: unknown): value is Identity {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Identity).subject === 'string' &&
    Array.isArray((value as Identity).roles) &&
    Array.isArray((value as Identity).groups) &&
    Array.isArray((value as Identity).scopes)
  );
}

function unmet(
  requirement: NameRequirement | undefined,
  held: readonly string[],
):
  { description: string; names: string; required: readonly string[]; plural: boolean } | undefined {
  if (requirement === undefined) return undefined;
  const { anyOf, allOf } = Array.isArray(requirement)
    ? { anyOf: requirement, allOf: undefined }
    : requirement;
  if (allOf !== undefined && !allOf.every((name) => held.includes(name))) {
    return { description: 'all of the', names: allOf.join(', '), required: allOf, plural: true };
  }
  if (anyOf !== undefined && !anyOf.some((name) => held.includes(name))) {
    return {
      description: anyOf.length > 1 ? 'one of the' : 'the',
      names: anyOf.join(', '),
      required: anyOf,
      plural: anyOf.length > 1,
    };
  }
  return undefined;
}
