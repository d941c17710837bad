import { IDENTITY_FIELDS, type FieldPaths, type IdentityField } from './claim-presets.js';

/**
 * The field names a data gateway's `claim_mapping` fills, and the identity field each one is
 * here. In the gateway a mapping entry reads "this token claim fills that field":
 * `{"email": "user_email"}` puts the `email` claim into the user's email. `roles` is the input
 * that `role_mapping` translates, which is what this package calls the user's groups: the raw
 * names an identity provider asserts never become roles unless `role_mapping` says so (or the
 * provider sent them as roles).
 */
export const GATEWAY_FIELDS: ReadonlyMap<string, IdentityField> = new Map([
  ['user_email', 'email'],
  ['email', 'email'],
  ['user_name', 'username'],
  ['username', 'username'],
  ['display_name', 'name'],
  ['name', 'name'],
  ['roles', 'groups'],
  ['groups', 'groups'],
  ['scopes', 'scopes'],
]);

// Identity fields a gateway mapping cannot fill: the subject keys a person's data and the client
// id decides the service-account rules, so moving them takes the explicit `field_claims`.
const FIELD_CLAIMS_ONLY: ReadonlySet<string> = new Set(
  IDENTITY_FIELDS.filter((field) => ![...GATEWAY_FIELDS.values()].includes(field)),
);

// Claims identity providers send, never the name of a gateway field: one of them as a value
// means the mapping was written the other way round.
const CLAIM_NAMES: ReadonlySet<string> = new Set([
  'sub',
  'oid',
  'upn',
  'preferred_username',
  'unique_name',
  'azp',
  'appid',
  'cid',
]);

/** An attribute name a mapping may create: what a gateway field name looks like. */
export const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Both mapping shapes, already validated by the schema. */
export interface FieldMappingInput {
  /** Gateway shape: token claim (path) -> gateway field name. */
  readonly claim_mapping?: Readonly<Record<string, string>> | undefined;
  /** Explicit shape: identity field or attribute name <- claim paths, tried in order. */
  readonly field_claims?: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/** Where each identity field and each extra attribute is read from. */
export interface ResolvedFieldPaths {
  readonly fields: FieldPaths;
  readonly attributes: ReadonlyMap<string, readonly string[]>;
}

/** What is wrong with a mapping that its schema alone cannot see, or undefined. */
export function fieldMappingProblem(
  mapping: FieldMappingInput | undefined,
): { readonly path: readonly string[]; readonly message: string } | undefined {
  const gatewayTargets = new Set<string>();
  for (const [claim, field] of Object.entries(mapping?.claim_mapping ?? {})) {
    // The other reading (our field <- claim), written in the gateway's shape: refused rather
    // than read backwards into an attribute named after a claim.
    if (claim === 'subject' || CLAIM_NAMES.has(field)) {
      return {
        path: ['claim_mapping', claim],
        message: `reads like "${claim} <- ${field}", but claim_mapping maps a token claim (the key) to a gateway field (the value), as in {"email": "user_email"}. To fill the ${claim} from the "${field}" claim, use "field_claims": {"${claim}": "${field}"}`,
      };
    }
    const target = GATEWAY_FIELDS.get(field) ?? field;
    if (FIELD_CLAIMS_ONLY.has(target)) {
      return {
        path: ['claim_mapping', claim],
        message: `maps the "${claim}" claim to "${field}", which the gateway shape does not fill (it maps a token claim to a gateway field: "user_email", "user_name", "display_name", "roles", or an attribute name). To read the ${field} from that claim, use "field_claims": {"${field}": "${claim}"}`,
      };
    }
    gatewayTargets.add(target);
  }
  for (const target of Object.keys(mapping?.field_claims ?? {})) {
    if (gatewayTargets.has(target)) {
      return {
        path: ['field_claims', target],
        message: `is also filled by claim_mapping; name its claims in one of the two`,
      };
    }
  }
  return undefined;
}

/**
 * Resolves a mapping over a set of defaults (a claim preset, a directory's attributes). A field
 * the mapping names is read only from the claims the mapping gives it, so a configured source is
 * never silently topped up from another claim. Several claims mapped to one field are tried in
 * the mapping's order (single values) or merged (lists).
 */
export function resolveFieldPaths(
  defaults: FieldPaths,
  mapping: FieldMappingInput | undefined,
): ResolvedFieldPaths {
  const problem = fieldMappingProblem(mapping);
  if (problem !== undefined) {
    throw new TypeError(`option "mapping.${problem.path.join('.')}" ${problem.message}`);
  }
  const named = new Map<string, string[]>();
  for (const [claim, field] of Object.entries(mapping?.claim_mapping ?? {})) {
    const target = GATEWAY_FIELDS.get(field) ?? field;
    named.set(target, [...(named.get(target) ?? []), claim]);
  }
  for (const [target, value] of Object.entries(mapping?.field_claims ?? {})) {
    named.set(target, typeof value === 'string' ? [value] : [...value]);
  }
  const fields: Record<IdentityField, readonly string[]> = { ...defaults };
  const attributes = new Map<string, readonly string[]>();
  for (const [target, paths] of named) {
    if ((IDENTITY_FIELDS as readonly string[]).includes(target)) {
      fields[target as IdentityField] = paths;
    } else {
      attributes.set(target, paths);
    }
  }
  return { fields, attributes };
}

/** Every claim a mapping reads (first path segment), so a directory can be asked for them. */
export function claimsNamedBy(mapping: FieldMappingInput | undefined): string[] {
  const paths = [
    ...Object.keys(mapping?.claim_mapping ?? {}),
    ...Object.values(mapping?.field_claims ?? {}).flatMap((value) =>
      typeof value === 'string' ? [value] : value,
    ),
  ];
  return paths.map((path) => path.split('.')[0] ?? path);
}
