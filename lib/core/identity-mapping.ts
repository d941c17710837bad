import type { z } from 'zod';
import { readClaim, readString, readStringList, type Claims } from './claims.js';
import {
  CLAIM_PRESETS,
  CLAIM_PRESET_NAMES,
  IDENTITY_FIELDS,
  type ClaimPresetName,
  type FieldPaths,
  type IdentityField,
} from './claim-presets.js';
import { ATTRIBUTE_NAME, fieldMappingProblem, resolveFieldPaths } from './field-mapping.js';
import { lazySchema } from './lazy-zod.js';

/**
 * The mapping in the shape users already configure in their data gateway, read the way the
 * gateway reads it: each `claim_mapping` key is a **token claim** and its value the **field** it
 * fills (`user_email`, `user_name`, `display_name`, `roles`, or any other name, which becomes an
 * attribute of that name); `role_mapping` turns the `roles` input (the provider's group names)
 * into roles. `field_claims` says the same the other way round, for what the gateway shape cannot:
 * our field or attribute <- claim paths tried in order (`{"email": ["email", "upn"]}`).
 *
 * @example
 * { "claim_mapping": { "email": "user_email", "groups": "roles", "department": "user_department" },
 *   "role_mapping": { "Sales-Team": "sales_readonly", "Sales-Managers": "sales_admin" } }
 */
export const mappingSchema = lazySchema((z) => {
  const claimPath = z.string().min(1).max(256);
  return z
    .strictObject({
      claim_mapping: z
        .record(
          claimPath,
          z
            .string()
            .regex(
              ATTRIBUTE_NAME,
              'must name one gateway field ("user_email", "user_name", "display_name", "roles", or an attribute name such as "user_department"): each key is a token claim and each value the field it fills. To list claim paths per field, use "field_claims"',
            ),
        )
        .optional(),
      field_claims: z
        .record(
          z.union([z.enum(IDENTITY_FIELDS), z.string().regex(ATTRIBUTE_NAME)]),
          z.union([claimPath, z.array(claimPath).min(1)]),
        )
        .optional(),
      role_mapping: z
        .record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1))]))
        .optional(),
    })
    .superRefine((mapping, context) => {
      const problem = fieldMappingProblem(mapping);
      if (problem !== undefined) {
        context.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
      }
    });
});

/**
 * The mapping of a browser sign-in (SAML, OIDC), where the protocol fixes the subject (the NameID,
 * the ID token's `sub`) and there are no scopes or client: `field_claims` for those is refused at
 * startup rather than ignored, so one person never has two subjects across sign-in methods.
 */
export const signInMappingSchema = lazySchema(() =>
  mappingSchema().superRefine((mapping, context) => {
    for (const field of ['subject', 'clientId', 'scopes']) {
      if (mapping.field_claims !== undefined && Object.hasOwn(mapping.field_claims, field)) {
        context.addIssue({
          code: 'custom',
          path: ['field_claims', field],
          message: `cannot be mapped for a browser sign-in: the protocol fixes the ${field === 'subject' ? 'subject (SAML NameID, OIDC "sub")' : field}`,
        });
      }
    }
  }),
);

/** `{ claim_mapping, field_claims, role_mapping }` (see {@link mappingSchema}). */
export type MappingConfig = z.input<ReturnType<typeof mappingSchema>>;
/** A mapping as {@link mappingSchema} leaves it, ready for {@link createIdentityMapper}. */
export type ParsedMapping = z.output<ReturnType<typeof mappingSchema>>;

export const presetSchema = lazySchema((z) =>
  z.enum(CLAIM_PRESET_NAMES as [ClaimPresetName, ...ClaimPresetName[]]),
);

/** The identity fields read from one set of claims, before classification. */
export interface MappedClaims {
  readonly subject: string | undefined;
  readonly username: string | undefined;
  readonly email: string | undefined;
  readonly name: string | undefined;
  readonly groups: string[];
  readonly roles: string[];
  readonly scopes: string[];
  readonly clientId: string | undefined;
  readonly attributes: Record<string, unknown>;
  /**
   * True when the provider announced that groups were left out of the token (Entra ID's
   * "groups overage": `_claim_names.groups`, or `hasgroups`): an empty list then means
   * "unknown", never "no groups".
   */
  readonly groupsOverage: boolean;
}

export interface IdentityMapperOptions {
  /** Default: `generic`. Ignored when `defaults` is given. */
  preset?: ClaimPresetName;
  /** Where each field is read when the mapping does not say (a directory's attributes). */
  defaults?: FieldPaths;
  mapping?: ParsedMapping;
  /** A claim that must name the user (a gateway's `DF_JWT_USER_CLAIM`); overrides `username`. */
  userClaim?: string;
}

/** Turns claims into identity fields; compiled once per issuer, applied per request. */
export interface IdentityMapper {
  map(claims: Claims): MappedClaims;
  /** Roles for a set of groups and directly granted roles, through `role_mapping`. */
  rolesFor(groups: readonly string[], directRoles: readonly string[]): string[];
}

export function createIdentityMapper(options: IdentityMapperOptions = {}): IdentityMapper {
  const resolved = resolveFieldPaths(
    options.defaults ?? CLAIM_PRESETS[options.preset ?? 'generic'],
    options.mapping,
  );
  const fields: Record<IdentityField, readonly string[]> = { ...resolved.fields };
  const attributes = resolved.attributes;
  if (options.userClaim !== undefined) fields.username = [options.userClaim];

  const roleMapping = new Map<string, readonly string[]>();
  for (const [source, target] of Object.entries(options.mapping?.role_mapping ?? {})) {
    roleMapping.set(source, typeof target === 'string' ? [target] : target);
  }

  function rolesFor(groups: readonly string[], directRoles: readonly string[]): string[] {
    const roles = new Set(directRoles);
    // Both groups and roles from the token may be mapped: Entra ID sends app roles in `roles`,
    // Keycloak sends groups-as-roles; users expect either to be renamable.
    for (const source of [...groups, ...directRoles]) {
      for (const role of roleMapping.get(source) ?? []) roles.add(role);
    }
    return [...roles];
  }

  return {
    rolesFor,
    map(claims) {
      const groups = readStringList(claims, fields.groups);
      const mappedAttributes: Record<string, unknown> = {};
      for (const [name, paths] of attributes) {
        for (const path of paths) {
          const value = readClaim(claims, path);
          if (value !== undefined) {
            mappedAttributes[name] = value;
            break;
          }
        }
      }
      return {
        subject: readString(claims, fields.subject),
        username: readString(claims, fields.username),
        email: readString(claims, fields.email),
        name: readString(claims, fields.name),
        groups,
        roles: readStringList(claims, fields.roles),
        scopes: readStringList(claims, fields.scopes),
        clientId: readString(claims, fields.clientId),
        attributes: mappedAttributes,
        groupsOverage: groups.length === 0 && hasGroupsOverage(claims),
      };
    },
  };
}

function hasGroupsOverage(claims: Claims): boolean {
  const claimNames = claims['_claim_names'];
  const overage =
    typeof claimNames === 'object' && claimNames !== null && Object.hasOwn(claimNames, 'groups');
  return overage || claims['hasgroups'] === true || claims['hasgroups'] === 'true';
}
