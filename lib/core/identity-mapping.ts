import { z } from 'zod';
import { readClaim, readString, readStringList, type Claims } from './claims.js';
import {
  CLAIM_PRESETS,
  CLAIM_PRESET_NAMES,
  IDENTITY_FIELDS,
  type ClaimPresetName,
  type FieldPaths,
  type IdentityField,
} from './claim-presets.js';

const claimPaths = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/**
 * The mapping in the shape users already configure in their data gateway:
 * `{"claim_mapping": {"email": "user_email", "groups": "roles"}, "role_mapping": {"Sales-Team": "sales_readonly"}}`.
 */
export const mappingSchema = z.strictObject({
  claim_mapping: z.record(z.string().min(1), claimPaths).optional(),
  role_mapping: z
    .record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1))]))
    .optional(),
});

/** `{ claim_mapping, role_mapping }` as a gateway configures it (see {@link mappingSchema}). */
export type MappingConfig = z.input<typeof mappingSchema>;

export const presetSchema = z.enum(CLAIM_PRESET_NAMES as [ClaimPresetName, ...ClaimPresetName[]]);

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
  preset?: ClaimPresetName;
  mapping?: z.output<typeof mappingSchema>;
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
  const preset: FieldPaths = CLAIM_PRESETS[options.preset ?? 'generic'];
  const fields: Record<IdentityField, readonly string[]> = { ...preset };
  const attributes = new Map<string, readonly string[]>();
  for (const [key, value] of Object.entries(options.mapping?.claim_mapping ?? {})) {
    const paths = typeof value === 'string' ? [value] : value;
    if ((IDENTITY_FIELDS as readonly string[]).includes(key)) fields[key as IdentityField] = paths;
    else attributes.set(key, paths);
  }
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
