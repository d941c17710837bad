import type { Profile } from '@node-saml/node-saml';
import { createIdentity, type Identity } from '../../core/identity.js';
import { resolveFieldPaths } from '../../core/field-mapping.js';
import { createIdentityMapper, type MappingConfig } from '../../core/identity-mapping.js';
import { denyListRule, findServiceAccountRule } from '../../core/service-accounts.js';
import { SAML_PRESETS, type SamlAttributeNames, type SamlPresetName } from './saml-presets.js';

/** How a validated SAML profile becomes an {@link Identity}, compiled once. */
export interface ProfileMapping {
  toIdentity(profile: Profile): Identity;
}

export function compileProfileMapping(options: {
  preset: SamlPresetName;
  mapping: MappingConfig | undefined;
  servicePatterns: readonly (string | RegExp)[];
}): ProfileMapping {
  const names: SamlAttributeNames = SAML_PRESETS[options.preset];
  const { fields, attributes: extraAttributes } = resolveFieldPaths(
    { subject: ['sub'], scopes: [], clientId: [], ...names },
    options.mapping,
  );
  const groupPaths = fields.groups;
  const rolePaths = fields.roles;
  // Attributes are the claims; lists are gathered here, because a single-valued attribute
  // ("Sales Team") must stay one group rather than be split on spaces like an OAuth scope.
  // The NameID is the subject whatever the mapping says: it keys the person at this IdP.
  const mapper = createIdentityMapper({
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
      ...(options.mapping?.role_mapping === undefined
        ? {}
        : { role_mapping: options.mapping.role_mapping }),
    },
  });
  const serviceRules =
    options.servicePatterns.length > 0 ? [denyListRule({ patterns: options.servicePatterns })] : [];

  return {
    toIdentity(profile) {
      const attributes = (profile['attributes'] ?? {}) as Record<string, unknown>;
      const values = (attributePaths: readonly string[]): string[] =>
        attributePaths.flatMap((path) => {
          const value = attributes[path];
          const items = Array.isArray(value) ? (value as unknown[]) : [value];
          return items.filter((item): item is string => typeof item === 'string' && item !== '');
        });
      // The NameID keys the person at this IdP; an email address can be edited by its owner.
      const claims = {
        ...attributes,
        sub: profile.nameID,
        __groups: values(groupPaths),
        __roles: values(rolePaths),
      };
      const mapped = mapper.map(claims);
      const username = mapped.username ?? profile.nameID;
      const overage = names.groupsOverage.some((name) => attributes[name] !== undefined);
      const rule = findServiceAccountRule(
        { claims, subject: profile.nameID, username, email: mapped.email, clientId: undefined },
        serviceRules,
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
        roles: mapper.rolesFor(mapped.groups, mapped.roles),
        scopes: [],
        attributes: {
          ...mapped.attributes,
          ...(profile.sessionIndex === undefined
            ? {}
            : { saml_session_index: profile.sessionIndex }),
          name_id_format: profile.nameIDFormat,
        },
      });
    },
  };
}
