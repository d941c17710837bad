import { AndFilter, EqualityFilter, OrFilter, type Entry, type Filter } from 'ldapts';
import { accountKey, comparableDn, escapeDnValue } from './ldap-entry.js';
import type { z } from 'zod';
import { isIdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { parseOptions } from '../../core/options.js';
import type {
  PasswordAuthenticator,
  PasswordCredentials,
  PasswordSignInContext,
} from '../../core/password-sign-in.js';
import { readPasswordCredentials } from '../../core/password-sign-in.js';
import { directoryUnavailable, signInRefused } from './directory-errors.js';
import { lookupGroups, type GroupLookup } from './group-lookup.js';
import {
  defaultClientFactory,
  tlsOptionsFor,
  withConnection,
  type ConnectionSettings,
} from './ldap-connection.js';
import { identityFromEntry, type EntryMapping, compileEntryMapping } from './ldap-identity.js';
import { userBind } from './user-bind.js';
import type { LdapClient } from './ldap-options.js';
import {
  DEFAULT_LDAP_CONNECT_TIMEOUT_MS,
  DEFAULT_LDAP_TIMEOUT_MS,
  DEFAULT_MAX_GROUP_DEPTH,
  DEFAULT_MAX_GROUPS,
  DIRECTORY_DEFAULTS,
  ldapOptionsSchema,
  type LdapAuthenticatorOptions,
} from './ldap-options.js';

type Parsed = z.output<ReturnType<typeof ldapOptionsSchema>>;

type Mode =
  | { kind: 'search'; bindDn: string; bindPassword: string; filter: (username: string) => Filter }
  | { kind: 'upn'; accountSuffix: string }
  | { kind: 'dn'; template: string };

// Characters that would make a UPN's local part name something else: a DN, a down-level
// `DOMAIN\user`, or another domain's account.
const UPN_UNSAFE = /[@\\/,=+<>#;"]/;

/**
 * Signs people in against Active Directory or another LDAP directory, and returns their
 * {@link Identity} (provider `ldap`) with groups, nested ones included, mapped to roles.
 *
 * Two ways to find the account: direct bind (`accountSuffix`: `alice` or `alice@company.com`
 * binds as `alice@company.com`; or `userDnTemplate`), and search-then-bind (`bindDn`: a read-only
 * account finds exactly one matching entry, then the user binds as it). The user's bind carries
 * the password policy control: a password that must be changed, has expired or belongs to a
 * locked account is refused even where the directory lets the bind succeed. Every sign-in uses a
 * fresh connection, closed on every path, and every network step (connect, TLS handshake, each
 * bind and search) has its own time limit; TLS with certificate checks is required unless
 * `dangerouslyAllowPlaintext` is set.
 *
 * Under `sessionRoutes()`, the sign-in throttle counts failures against the account, not only
 * the name typed, as far as the mode allows. Search-then-bind: against the entry found
 * (`objectGUID` or `entryUUID`, the DN if unreadable), checked before the user's bind, so that
 * `jsmith`, `john.smith@company.com` and a mail address share one allowance, as they share the
 * directory's lockout count. `userDnTemplate`: against the normalized DN. `accountSuffix`: by the
 * name typed only, nothing being readable before the bind; AD accepts both the explicit UPN and
 * the implicit one (`sAMAccountName@domain`), so where their prefixes differ one person has two
 * allowances: use search-then-bind, or set `maxFailuresPerAccount` to at most half of one less
 * than the lockout threshold (2 for a threshold of 5). A refusal after the right password (it
 * must be changed, it has expired) does not count: the directory does not count it either.
 *
 * @example
 * ```ts
 * const directory = createLdapAuthenticator({
 *   type: 'active-directory', host: 'dc1.company.com', baseDn: 'DC=company,DC=com',
 *   accountSuffix: '@company.com', ca: readFileSync('company-ca.pem'),
 * });
 * ```
 */
export function createLdapAuthenticator(options: LdapAuthenticatorOptions): PasswordAuthenticator {
  const directory = compileDirectory(
    parseOptions(ldapOptionsSchema(), options, 'createLdapAuthenticator'),
  );
  return Object.freeze({
    provider: 'ldap',
    async authenticate(credentials: PasswordCredentials, context?: PasswordSignInContext) {
      // Checked here too, for callers that skip the sign-in route: an empty password must never
      // reach a bind, where many servers would take it as an anonymous bind and succeed.
      const checked = readPasswordCredentials(credentials.username, credentials.password);
      return await signIn(directory, checked, context);
    },
  } satisfies PasswordAuthenticator);
}

/** One directory's settings, compiled once from the options. */
interface Directory {
  readonly baseDn: string;
  readonly connection: ReturnType<typeof connectionSettings>;
  readonly mode: Mode;
  readonly mapping: EntryMapping;
  readonly groups: GroupLookup;
  /** Binds and searches per sign-in, for the overall deadline. */
  readonly operations: number;
}

function compileDirectory(parsed: Parsed): Directory {
  const defaults = DIRECTORY_DEFAULTS[parsed.type];
  const connection = connectionSettings(parsed);
  const groups: GroupLookup = {
    type: parsed.type,
    baseDn: parsed.groupBaseDn ?? parsed.baseDn,
    maxDepth: parsed.maxGroupDepth ?? DEFAULT_MAX_GROUP_DEPTH,
    maxGroups: parsed.maxGroups ?? DEFAULT_MAX_GROUPS,
  };
  return Object.freeze({
    baseDn: parsed.baseDn,
    connection,
    mode: modeOf(parsed, defaults),
    mapping: compileEntryMapping(parsed, defaults, connection.url),
    groups,
    // A service bind, a user search, the user bind, a service re-bind, and group searches (one
    // per nesting level).
    operations: 4 + (parsed.type === 'active-directory' ? 1 : groups.maxDepth + 1),
  });
}

function signIn(
  directory: Directory,
  credentials: PasswordCredentials,
  context: PasswordSignInContext | undefined,
): Promise<Identity> {
  const { mode } = directory;
  const username =
    mode.kind === 'upn' ? upnLocalPart(credentials.username, mode) : credentials.username;
  return withConnection(directory.connection, directory.operations, async (client) => {
    const account = { client, username, password: credentials.password, context };
    const entry =
      mode.kind === 'search'
        ? await searchThenBind(directory, mode, account)
        : mode.kind === 'upn'
          ? await bindByUpn(directory, mode, account)
          : await bindByDn(directory, mode, account);
    const found = await step('group_search', () => lookupGroups(client, entry, directory.groups));
    return identityFromEntry(entry, found.groups, found.complete, directory.mapping);
  });
}

/** Who is signing in, over which connection. */
interface Account {
  readonly client: LdapClient;
  readonly username: string;
  readonly password: string;
  readonly context: PasswordSignInContext | undefined;
}

async function searchThenBind(
  directory: Directory,
  mode: Extract<Mode, { kind: 'search' }>,
  { client, username, password, context }: Account,
): Promise<Entry> {
  await step('service_bind', () => client.bind(mode.bindDn, mode.bindPassword));
  const entry = await findUser(directory, client, mode.filter(username));
  // Each login attribute is another name for this one entry, whose failures the directory's
  // lockout counts together: so must the throttle, before the password is tried.
  await context?.guardAccount(accountKey(entry, directory.mapping.subjectAttribute));
  await userBind(client, entry.dn, password, { entry, context });
  // Groups are read with the search account's rights, not the user's.
  await step('service_bind', () => client.bind(mode.bindDn, mode.bindPassword));
  return entry;
}

async function bindByUpn(
  directory: Directory,
  mode: Extract<Mode, { kind: 'upn' }>,
  { client, username, password, context }: Account,
): Promise<Entry> {
  const upn = `${username}${mode.accountSuffix}`;
  // No account guard: nothing can be read before this bind (AD refuses anonymous searches), so
  // the implicit and the explicit UPN (below) are throttled as two names where their prefixes
  // differ. Search-then-bind closes that gap.
  await userBind(client, upn, password, { context });
  // AD also accepts sAMAccountName@domain for a bind when the UPN differs (implicit UPN), so
  // the entry is found by either; exactly one must match.
  return findUser(
    directory,
    client,
    new OrFilter({
      filters: [
        new EqualityFilter({ attribute: 'userPrincipalName', value: upn }),
        new EqualityFilter({ attribute: 'sAMAccountName', value: username }),
      ],
    }),
  );
}

async function bindByDn(
  directory: Directory,
  mode: Extract<Mode, { kind: 'dn' }>,
  { client, username, password, context }: Account,
): Promise<Entry> {
  // split/join rather than replace(): a replacement string interprets `$'` and `$&`.
  const dn = mode.template.split('{username}').join(escapeDnValue(username));
  // The DN is the entry the directory counts failures on, as far as text can tell.
  await context?.guardAccount(comparableDn(dn));
  await userBind(client, dn, password, { context });
  return readEntry(directory, client, dn);
}

async function findUser(directory: Directory, client: LdapClient, filter: Filter): Promise<Entry> {
  const { mapping } = directory;
  const entries = await step('user_search', async () => {
    try {
      const result = await client.search(directory.baseDn, {
        scope: 'sub',
        filter: new AndFilter({ filters: [mapping.userFilter, filter] }),
        attributes: mapping.attributes,
        explicitBufferAttributes: mapping.binaryAttributes,
        // Two are enough to know the name is ambiguous; referrals are returned, not chased.
        sizeLimit: 2,
        derefAliases: 'never',
      });
      return result.searchEntries;
    } catch (error) {
      if (error instanceof Error && error.name === 'SizeLimitExceededError') return [null, null];
      throw error;
    }
  });
  // Zero or several matches are a failed sign-in, never "the first one": binding as an
  // arbitrary match would sign the person in as someone else.
  if (entries.length === 0) throw signInRefused('user_not_found');
  if (entries.length > 1 || entries[0] == null) throw signInRefused('ambiguous_user');
  return entries[0];
}

async function readEntry(directory: Directory, client: LdapClient, dn: string): Promise<Entry> {
  const { mapping } = directory;
  const entries = await step('user_read', async () => {
    const result = await client.search(dn, {
      scope: 'base',
      filter: mapping.userFilter,
      attributes: mapping.attributes,
      explicitBufferAttributes: mapping.binaryAttributes,
    });
    return result.searchEntries;
  });
  const entry = entries[0];
  if (entry === undefined) throw signInRefused('user_not_found');
  return entry;
}

/**
 * The name to put before `accountSuffix`: `alice` as typed, or `alice` from `alice@company.com`
 * when the domain is the configured one (compared case-insensitively, as DNS names are), which is
 * what people type when Windows shows them their UPN and what the sign-in form's `email` field
 * carries. Any other domain is another account (or another forest): refused, never rewritten.
 */
function upnLocalPart(username: string, mode: { accountSuffix: string }): string {
  const at = username.lastIndexOf('@');
  const local = at === -1 ? username : username.slice(0, at);
  if (at !== -1 && username.slice(at).toLowerCase() !== mode.accountSuffix.toLowerCase()) {
    throw signInRefused('username_invalid');
  }
  if (local === '' || UPN_UNSAFE.test(local)) throw signInRefused('username_invalid');
  return local;
}

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isIdentityError(error)) throw error;
    throw directoryUnavailable(name, error);
  }
}

function connectionSettings(parsed: Parsed): ConnectionSettings {
  if (parsed.tls !== undefined && parsed.dangerouslyAllowPlaintext === true) {
    throw new TypeError(
      'option "dangerouslyAllowPlaintext": conflicts with "tls"; remove one of them',
    );
  }
  const plaintext = parsed.dangerouslyAllowPlaintext === true;
  const tls = plaintext ? undefined : (parsed.tls ?? 'ldaps');
  const port = parsed.port ?? (tls === 'ldaps' ? 636 : 389);
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  return Object.freeze({
    url: `${tls === 'ldaps' ? 'ldaps' : 'ldap'}://${host}:${port}`,
    host: parsed.host,
    startTls: tls === 'starttls',
    tlsOptions: tls === undefined ? undefined : tlsOptionsFor(parsed.host, parsed.ca),
    connectTimeoutMs: parsed.connectTimeoutMs ?? DEFAULT_LDAP_CONNECT_TIMEOUT_MS,
    timeoutMs: parsed.timeoutMs ?? DEFAULT_LDAP_TIMEOUT_MS,
    createClient: parsed.createClient ?? defaultClientFactory,
  });
}

function modeOf(
  parsed: Parsed,
  defaults: (typeof DIRECTORY_DEFAULTS)[keyof typeof DIRECTORY_DEFAULTS],
): Mode {
  const modes = (['bindDn', 'accountSuffix', 'userDnTemplate'] as const).filter(
    (name) => parsed[name] !== undefined,
  );
  if (modes.length !== 1) {
    throw new TypeError(
      modes.length === 0
        ? 'option "bindDn": give "bindDn" and "bindPassword" (search, then bind), or "accountSuffix" (Active Directory direct bind), or "userDnTemplate" (direct bind by DN)'
        : `option "${modes[1] ?? ''}": conflicts with "${modes[0] ?? ''}"; choose one way to find accounts`,
    );
  }
  if (parsed.bindDn !== undefined) {
    if (parsed.bindPassword === undefined) {
      throw new TypeError(
        'option "bindPassword": is required with "bindDn" (an empty password would bind anonymously)',
      );
    }
    const attributes = parsed.loginAttributes ?? defaults.loginAttributes;
    return {
      kind: 'search',
      bindDn: parsed.bindDn,
      bindPassword: parsed.bindPassword,
      filter: (username) =>
        new OrFilter({
          filters: attributes.map(
            (attribute) => new EqualityFilter({ attribute, value: username }),
          ),
        }),
    };
  }
  if (parsed.bindPassword !== undefined) {
    throw new TypeError('option "bindPassword": is only used with "bindDn"');
  }
  if (parsed.accountSuffix !== undefined)
    return { kind: 'upn', accountSuffix: parsed.accountSuffix };
  return { kind: 'dn', template: parsed.userDnTemplate ?? '' };
}
