import type { Profile } from '@node-saml/node-saml';
import type { FieldPaths } from '../../core/claim-presets.js';
import { createIdentity, type Identity } from '../../core/identity.js';
import { resolveFieldPaths } from '../../core/field-mapping.js';
import {
  createIdentityMapper,
  type IdentityMapper,
  type MappingConfig,
} from '../../core/identity-mapping.js';
import {
  denyListRule,
  findServiceAccountRule,
  type ServiceAccountRule,
} from '../../core/service-accounts.js';
import { SAML_PRESETS, type SamlPresetName } from './saml-presets.js';

/** How a validated SAML profile becomes an {@link Identity}, compiled once. */
export interface ProfileMapping {
  toIdentity(profile: Profile): Identity;
}

/** What a profile mapping settles at startup, for every profile it maps. */
interface CompiledProfileMapping {
  /** Attributes whose presence says the IdP left groups out (too many to send). */
  readonly overageAttributes: readonly string[];
  readonly groupPaths: readonly string[];
  readonly rolePaths: readonly string[];
  readonly mapper: IdentityMapper;
  readonly serviceRules: readonly ServiceAccountRule[];
}

/**
 * Compiles the SAML sign-in's mapping once: the preset's attribute names, the application's
 * `{ claim_mapping, role_mapping }` over attribute names, and the service-account patterns. The
 * NameID is always the subject; a profile that matches a pattern becomes a service identity.
 */
export function compileProfileMapping(options: {
  preset: SamlPresetName;
  mapping: MappingConfig | undefined;
  servicePatterns: readonly (string | RegExp)[];
}): ProfileMapping {
  const names = SAML_PRESETS[options.preset];
  const { fields, attributes } = resolveFieldPaths(
    { subject: ['sub'], scopes: [], clientId: [], ...names },
    options.mapping,
  );
  const compiled: CompiledProfileMapping = Object.freeze({
    overageAttributes: names.groupsOverage,
    groupPaths: fields.groups,
    rolePaths: fields.roles,
    mapper: attributeMapper(fields, attributes, options.mapping),
    serviceRules:
      options.servicePatterns.length > 0
        ? [denyListRule({ patterns: options.servicePatterns })]
        : [],
  });
  return { toIdentity: (profile) => profileToIdentity(compiled, profile) };
}

function attributeMapper(
  fields: FieldPaths,
  extraAttributes: ReadonlyMap<string, readonly string[]>,
  mapping: MappingConfig | undefined,
): IdentityMapper {
  // Attributes are the claims; lists are gathered here, because a single-valued attribute
  // ("Sales Team") must stay one group rather than be split on spaces like an OAuth scope.
  // The NameID is the subject whatever the mapping says: it keys the person at this IdP.
  return createIdentityMapper({
    defaults: {
      subject: ['sub'],
      username: [...fields.username, 'sub'],
      email: fields.email,
      name: fields.name,
      groups: ['__groups'],
      roles: ['__roles'],
      scopes: [],
      clientId: [],
    },
    mapping: {
      field_claims: Object.fromEntries(
        [...extraAttributes].map(([name, paths]) => [name, [...paths]]),
      ),
      ...(mapping?.role_mapping === undefined ? {} : { role_mapping: mapping.role_mapping }),
    },
  });
}

function profileToIdentity(compiled: CompiledProfileMapping, profile: Profile): Identity {
  const attributes = (profile['attributes'] ?? {}) as Record<string, unknown>;
  // The NameID keys the person at this IdP; an email address can be edited by its owner.
  const claims = {
    ...attributes,
    sub: profile.nameID,
    __groups: stringValues(attributes, compiled.groupPaths),
    __roles: stringValues(attributes, compiled.rolePaths),
  };
  const mapped = compiled.mapper.map(claims);
  const username = mapped.username ?? profile.nameID;
  const overage = compiled.overageAttributes.some((name) => attributes[name] !== undefined);
  const rule = findServiceAccountRule(
    { claims, subject: profile.nameID, username, email: mapped.email, clientId: undefined },
    compiled.serviceRules,
  );
  return createIdentity({
    subject: profile.nameID,
    issuer: profile.issuer,
    provider: 'saml',
    kind: rule === undefined ? 'user' : 'service',
    ...(rule === undefined ? {} : { serviceAccountRule: rule.name }),
    username,
    ...(mapped.email === undefined ? {} : { email: mapped.email }),
    ...(mapped.name === undefined ? {} : { name: mapped.name }),
    groups: mapped.groups,
    groupsComplete: !(overage && mapped.groups.length === 0),
    roles: compiled.mapper.rolesFor(mapped.groups, mapped.roles),
    scopes: [],
    attributes: {
      ...mapped.attributes,
      ...(profile.sessionIndex === undefined ? {} : { saml_session_index: profile.sessionIndex }),
      name_id_format: profile.nameIDFormat,
    },
  });
}

/** The non-empty strings of the attributes at `paths`, single- and multi-valued alike. */
function stringValues(
  attributes: Readonly<Record<string, unknown>>,
  paths: readonly string[],
): string[] {
  return paths.flatMap((path) => {
    const value = attributes[path];
    const items = Array.isArray(value) ? (value as unknown[]) : [value];
    return items.filter((item): item is string => typeof item === 'string' && item !== '');
  });
}
