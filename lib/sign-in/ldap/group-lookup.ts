import {
  AndFilter,
  EqualityFilter,
  ExtensibleFilter,
  OrFilter,
  type Entry,
  type Filter,
} from 'ldapts';
import { allValues, comparableDn, firstRdnValue, firstValue } from './ldap-entry.js';
import type { LdapClient } from './ldap-options.js';

// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: the server walks nested membership itself, in
// one search, instead of the client issuing one search per level.
const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';

/** Where and how deep groups are looked up. */
export interface GroupLookup {
  readonly type: 'active-directory' | 'ldap';
  readonly baseDn: string;
  readonly maxDepth: number;
  readonly maxGroups: number;
}

/** A group the user belongs to, directly or through nesting. */
export interface DirectoryGroup {
  readonly dn: string;
  readonly name: string;
}

/**
 * The user's groups: `memberOf` on the entry (direct groups), plus nested ones: through the
 * in-chain rule on Active Directory, or by searching for groups that list the user's groups as
 * members, level by level, elsewhere. Values reach the server inside filter objects that ldapts
 * encodes as BER, so a DN full of `*()\` cannot change a filter's meaning.
 */
export async function lookupGroups(
  client: LdapClient,
  user: Entry,
  settings: GroupLookup,
): Promise<{ groups: DirectoryGroup[]; complete: boolean }> {
  const groups: FoundGroups = new Map();
  for (const dn of allValues(user, 'memberOf')) addGroup(groups, settings, dn, undefined);
  if (settings.type === 'active-directory') {
    await addInChainGroups(client, user, settings, groups);
  } else {
    await addNestedGroups(client, user, settings, groups);
  }
  // At the limit, some groups may be missing: group checks must then refuse, not decide.
  return { groups: [...groups.values()], complete: groups.size < settings.maxGroups };
}

/** The groups found so far, keyed by comparable DN. */
type FoundGroups = Map<string, DirectoryGroup>;

function addGroup(
  groups: FoundGroups,
  settings: GroupLookup,
  dn: string,
  name: string | undefined,
): void {
  const key = comparableDn(dn);
  if (groups.has(key) || groups.size >= settings.maxGroups) return;
  groups.set(key, { dn, name: name ?? firstRdnValue(dn) });
}

async function addInChainGroups(
  client: LdapClient,
  user: Entry,
  settings: GroupLookup,
  groups: FoundGroups,
): Promise<void> {
  const found = await searchGroups(
    client,
    settings,
    new ExtensibleFilter({ matchType: 'member', rule: IN_CHAIN_RULE, value: user.dn }),
  );
  for (const entry of found) addGroup(groups, settings, entry.dn, firstValue(entry, 'cn'));
}

async function addNestedGroups(
  client: LdapClient,
  user: Entry,
  settings: GroupLookup,
  groups: FoundGroups,
): Promise<void> {
  const uid = firstValue(user, 'uid');
  // Each group is searched for once: a membership cycle ends, and a group already known from
  // memberOf is still followed upwards.
  const expanded = new Set<string>([comparableDn(user.dn)]);
  let level: string[] = [user.dn];
  for (let depth = 0; depth <= settings.maxDepth && level.length > 0; depth++) {
    const found = await groupsListing(client, settings, level, depth === 0 ? uid : undefined);
    level = [];
    for (const entry of found) {
      addGroup(groups, settings, entry.dn, firstValue(entry, 'cn'));
      const key = comparableDn(entry.dn);
      if (!expanded.has(key) && groups.has(key)) {
        expanded.add(key);
        level.push(entry.dn);
      }
    }
  }
}

// The groups that list any of `members` (by DN), or the user's `uid` when given.
async function groupsListing(
  client: LdapClient,
  settings: GroupLookup,
  members: readonly string[],
  uid: string | undefined,
): Promise<Entry[]> {
  const found: Entry[] = [];
  // Small batches keep each filter well under servers' request size limits.
  for (let start = 0; start < members.length; start += 50) {
    const filters: Filter[] = members
      .slice(start, start + 50)
      .flatMap((dn) => [
        new EqualityFilter({ attribute: 'member', value: dn }),
        new EqualityFilter({ attribute: 'uniqueMember', value: dn }),
      ]);
    if (uid !== undefined) {
      // posixGroup lists members by uid, not DN.
      filters.push(new EqualityFilter({ attribute: 'memberUid', value: uid }));
    }
    found.push(...(await searchGroups(client, settings, new OrFilter({ filters }))));
  }
  return found;
}

// Only group entries count: any other entry that happens to list the user in `member` (a
// distribution list, a dynamic object, something a delegated admin created) is not a group.
const GROUP_CLASSES = {
  'active-directory': new EqualityFilter({ attribute: 'objectCategory', value: 'group' }),
  ldap: new OrFilter({
    filters: ['groupOfNames', 'groupOfUniqueNames', 'posixGroup', 'group'].map(
      (value) => new EqualityFilter({ attribute: 'objectClass', value }),
    ),
  }),
};

async function searchGroups(
  client: LdapClient,
  settings: GroupLookup,
  filter: Filter,
): Promise<Entry[]> {
  const { searchEntries } = await client.search(settings.baseDn, {
    scope: 'sub',
    filter: new AndFilter({ filters: [GROUP_CLASSES[settings.type], filter] }),
    attributes: ['cn'],
    sizeLimit: settings.maxGroups,
    derefAliases: 'never',
  });
  return searchEntries;
}
