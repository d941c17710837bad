import { FilterParser, type Entry, type Filter } from 'ldapts';
import type { z } from 'zod';
import { createIdentity, type Identity } from '../../core/identity.js';
import { claimsNamedBy } from '../../core/field-mapping.js';
import { createIdentityMapper, type IdentityMapper } from '../../core/identity-mapping.js';
import {
  denyListRule,
  findServiceAccountRule,
  type ServiceAccountRule,
} from '../../core/service-accounts.js';
import type { DirectoryGroup } from './group-lookup.js';
import { allValues, comparableDn, stableId } from './ldap-entry.js';
import type { DIRECTORY_DEFAULTS, ldapOptionsSchema } from './ldap-options.js';

/** How a directory entry becomes an {@link Identity}, compiled once from the options. */
export interface EntryMapping {
  readonly issuer: string;
  readonly userFilter: Filter;
  readonly attributes: string[];
  readonly binaryAttributes: string[];
  readonly subjectAttribute: string;
  readonly mapper: IdentityMapper;
  readonly serviceRules: readonly ServiceAccountRule[];
}

type ParsedLdapOptions = z.output<ReturnType<typeof ldapOptionsSchema>>;
type DirectoryDefaults = (typeof DIRECTORY_DEFAULTS)[keyof typeof DIRECTORY_DEFAULTS];

/** Compiles the options' user filter, attribute mapping and service-account rules, once. */
export function compileEntryMapping(
  parsed: ParsedLdapOptions,
  defaults: DirectoryDefaults,
  url: string,
): EntryMapping {
  const userFilter = parseUserFilter(parsed.userFilter ?? defaults.userFilter);
  const mapper = entryMapper(parsed, defaults);
  const [scheme, rest] = url.split('://');
  return Object.freeze({
    // Identities are keyed by issuer and subject; the directory and its base name the issuer.
    issuer: `${scheme === 'ldaps' ? 'ldaps' : 'ldap'}://${rest ?? ''}/${parsed.baseDn}`,
    userFilter,
    attributes: requestedAttributes(parsed, defaults),
    binaryAttributes: defaults.subjectAttribute === 'objectGUID' ? ['objectGUID'] : [],
    subjectAttribute: defaults.subjectAttribute,
    mapper,
    serviceRules: Object.freeze(serviceAccountRules(parsed)),
  });
}

function parseUserFilter(filterText: string): Filter {
  try {
    return FilterParser.parseString(filterText);
  } catch (cause) {
    throw new TypeError(`option "userFilter": not a valid LDAP filter (RFC 4515): ${filterText}`, {
      cause,
    });
  }
}

// Directory attributes play the part of claims, so one mapping language serves JWTs and LDAP:
// `{"claim_mapping": {"userPrincipalName": "user_email"}}` reads that attribute instead of `mail`.
function entryMapper(parsed: ParsedLdapOptions, defaults: DirectoryDefaults): IdentityMapper {
  return createIdentityMapper({
    defaults: {
      subject: ['sub'],
      username: [defaults.usernameAttribute, 'sub'],
      email: ['mail'],
      name: ['displayName', 'cn'],
      groups: ['groups'],
      roles: ['roles'],
      scopes: [],
      clientId: [],
    },
    ...(parsed.mapping === undefined ? {} : { mapping: parsed.mapping }),
  });
}

// A user search returns only the attributes it asks for: those the sign-in reads, and every one
// the claim mapping names.
function requestedAttributes(parsed: ParsedLdapOptions, defaults: DirectoryDefaults): string[] {
  return [
    ...new Set([
      defaults.subjectAttribute,
      defaults.usernameAttribute,
      'mail',
      'displayName',
      'cn',
      'memberOf',
      'uid',
      'userPrincipalName',
      'pwdAccountLockedTime',
      ...claimsNamedBy(parsed.mapping),
    ]),
  ];
}

function serviceAccountRules(parsed: ParsedLdapOptions): ServiceAccountRule[] {
  const serviceOus = (parsed.serviceAccounts?.ous ?? []).map(comparableDn);
  const serviceRules: ServiceAccountRule[] = [];
  if (serviceOus.length > 0) {
    serviceRules.push({
      name: 'ldap-service-ou',
      description: 'An account under one of the configured service-account OUs.',
      matches: ({ claims }) => {
        const dn = typeof claims['dn'] === 'string' ? comparableDn(claims['dn']) : '';
        return serviceOus.some((ou) => dn.endsWith(`,${ou}`));
      },
    });
  }
  if ((parsed.serviceAccounts?.patterns?.length ?? 0) > 0) {
    serviceRules.push(denyListRule({ patterns: parsed.serviceAccounts?.patterns ?? [] }));
  }
  return serviceRules;
}

/** The normalized identity of a signed-in directory user. */
export function identityFromEntry(
  entry: Entry,
  groups: readonly DirectoryGroup[],
  groupsComplete: boolean,
  mapping: EntryMapping,
): Identity {
  const claims: Record<string, unknown> = { dn: entry.dn };
  for (const [name, value] of Object.entries(entry)) {
    if (name === 'dn' || Buffer.isBuffer(value) || name === 'pwdAccountLockedTime') continue;
    const values = allValues(entry, name);
    if (values.length > 0) claims[name] = values.length === 1 ? values[0] : values;
  }
  // A stable id survives renames and moves (objectGUID, entryUUID); the DN is the fallback.
  claims['sub'] = stableId(entry, mapping.subjectAttribute) ?? entry.dn;
  claims['groups'] = groups.map((group) => group.name);
  const mapped = mapping.mapper.map(claims);
  const subject = mapped.subject ?? entry.dn;
  const username = mapped.username ?? subject;
  const rule = findServiceAccountRule(
    { claims, subject, username, email: mapped.email, clientId: undefined },
    mapping.serviceRules,
  );
  return createIdentity({
    subject,
    issuer: mapping.issuer,
    provider: 'ldap',
    kind: rule === undefined ? 'user' : 'service',
    ...(rule === undefined ? {} : { serviceAccountRule: rule.name }),
    username,
    ...(mapped.email === undefined ? {} : { email: mapped.email }),
    ...(mapped.name === undefined ? {} : { name: mapped.name }),
    groups: mapped.groups,
    groupsComplete,
    // role_mapping keys may be group names or group DNs: a DN cannot be imitated by a group of
    // the same name created elsewhere in the directory.
    roles: mapping.mapper.rolesFor(
      [...mapped.groups, ...groups.map((group) => group.dn)],
      mapped.roles,
    ),
    scopes: [],
    attributes: { ...mapped.attributes, dn: entry.dn },
  });
}
