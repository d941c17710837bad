import { AndFilter, EqualityFilter, OrFilter, type Entry } from 'ldapts';
import { isCredentialFailure, describe } from '../../sign-in/ldap/directory-errors.js';
import { lookupGroups } from '../../sign-in/ldap/group-lookup.js';
import { createLdapAuthenticator } from '../../sign-in/ldap/ldap-authenticator.js';
import { withConnection } from '../../sign-in/ldap/ldap-connection.js';
import { compileEntryMapping, identityFromEntry } from '../../sign-in/ldap/ldap-identity.js';
import {
  DEFAULT_MAX_GROUP_DEPTH,
  DEFAULT_MAX_GROUPS,
  DIRECTORY_DEFAULTS,
  type LdapAuthenticatorOptions,
  type LdapClient,
} from '../../sign-in/ldap/ldap-options.js';
import { fail, ok, problemOf, warn, withinTimeout, type DoctorCheck } from './doctor-check.js';
import { ldapTarget, type LdapTarget } from './ldap-connection-settings.js';
import { checkReachable, checkTls } from './ldap-transport-checks.js';

/**
 * Checks the directory sign-in's settings against the directory: the options as
 * `createLdapAuthenticator()` validates them, the host reachable, TLS valid (LDAPS or
 * StartTLS), the service account's bind, and, given `user`, that this user is found with the
 * groups (nested ones included) and roles a sign-in would give. No password is ever printed.
 *
 * @example
 * ```ts
 * const lines = await checkLdap(config.ldap, { user: 'alice', timeoutMs: 5000 });
 * ```
 */
export async function checkLdap(
  options: unknown,
  input: { readonly user: string | undefined; readonly timeoutMs: number },
): Promise<DoctorCheck[]> {
  try {
    createLdapAuthenticator(options as LdapAuthenticatorOptions);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return [fail('ldap.options', error.message, 'Correct the option named.')];
  }
  const valid = options as LdapAuthenticatorOptions;
  const target = ldapTarget(valid, input.timeoutMs);
  const reachable = await checkReachable(target, input.timeoutMs);
  if (reachable.status === 'fail') return [reachable];
  const tls = await checkTls(target, input.timeoutMs);
  if (tls.status === 'fail') return [reachable, tls];
  return [reachable, tls, ...(await checkAccounts(valid, target, input))];
}

// The service account's bind, then the user lookup, on one connection (as a sign-in does).
async function checkAccounts(
  options: LdapAuthenticatorOptions,
  target: LdapTarget,
  input: { readonly user: string | undefined; readonly timeoutMs: number },
): Promise<DoctorCheck[]> {
  const { bindDn, bindPassword } = options;
  if (bindDn === undefined || bindPassword === undefined) {
    return input.user === undefined
      ? []
      : [
          warn(
            'ldap.user',
            `"${input.user}" not looked up: users bind directly, there is no service account to search with`,
            'Give "bindDn" and "bindPassword" (a read-only account) to look users up.',
          ),
        ];
  }
  const checks: DoctorCheck[] = [];
  try {
    await withinTimeout(input.timeoutMs * 2, () =>
      withConnection(
        target.connection,
        3 + (options.maxGroupDepth ?? DEFAULT_MAX_GROUP_DEPTH),
        async (client) => {
          try {
            await client.bind(bindDn, bindPassword);
          } catch (error) {
            checks.push(bindFailure(bindDn, error));
            return;
          }
          checks.push(ok('ldap.bind', `the service account "${bindDn}" binds`));
          if (input.user !== undefined)
            checks.push(await lookUpUser(client, options, target, input.user));
        },
      ),
    );
  } catch (error) {
    if (checks.length === 0) {
      checks.push(
        fail(
          'ldap.bind',
          `the service account could not bind: ${problemOf(error)}`,
          "Check the directory's health and the connection settings.",
        ),
      );
    } else if (input.user !== undefined && checks.length === 1) {
      checks.push(
        fail(
          'ldap.user',
          `"${input.user}" could not be looked up: ${problemOf(error)}`,
          'Check "baseDn", "userFilter" and the directory\'s health.',
        ),
      );
    }
  }
  return checks;
}

function bindFailure(bindDn: string, error: unknown): DoctorCheck {
  return isCredentialFailure(error)
    ? fail(
        'ldap.bind',
        `the directory refuses the service account "${bindDn}" (invalidCredentials)`,
        'Check "bindDn" and "bindPassword": the DN must exist and the password be current.',
      )
    : fail(
        'ldap.bind',
        `the service account "${bindDn}" cannot bind: ${describe(error)}`,
        'Check "bindDn" and the directory\'s health.',
      );
}

async function lookUpUser(
  client: LdapClient,
  options: LdapAuthenticatorOptions,
  target: LdapTarget,
  user: string,
): Promise<DoctorCheck> {
  const defaults = DIRECTORY_DEFAULTS[options.type];
  const mapping = compileEntryMapping(options, defaults, target.connection.url);
  const attributes = options.loginAttributes ?? defaults.loginAttributes;
  const result = await client
    .search(options.baseDn, {
      scope: 'sub',
      filter: new AndFilter({
        filters: [
          mapping.userFilter,
          new OrFilter({
            filters: attributes.map((attribute) => new EqualityFilter({ attribute, value: user })),
          }),
        ],
      }),
      attributes: mapping.attributes,
      explicitBufferAttributes: mapping.binaryAttributes,
      sizeLimit: 2,
      derefAliases: 'never',
    })
    .catch((error: unknown) => error);
  if (result instanceof Error) {
    return result.name === 'SizeLimitExceededError'
      ? fail(
          'ldap.user',
          `"${user}" matches several entries: a sign-in with it is refused`,
          `Narrow "loginAttributes" or "userFilter" so a name matches one entry.`,
        )
      : fail(
          'ldap.user',
          `"${user}" could not be looked up: ${describe(result)}`,
          'Check "baseDn" and "userFilter".',
        );
  }
  const entries = (result as { searchEntries: Entry[] }).searchEntries;
  const entry = entries[0];
  if (entry === undefined || entries.length > 1) {
    return fail(
      'ldap.user',
      entry === undefined
        ? `"${user}" is not found under ${options.baseDn} (matching ${attributes.join(', ')})`
        : `"${user}" matches several entries`,
      'Check "baseDn", "loginAttributes" and "userFilter".',
    );
  }
  return describeUser(client, options, entry, mapping);
}

async function describeUser(
  client: LdapClient,
  options: LdapAuthenticatorOptions,
  entry: Entry,
  mapping: ReturnType<typeof compileEntryMapping>,
): Promise<DoctorCheck> {
  const found = await lookupGroups(client, entry, {
    type: options.type,
    baseDn: options.groupBaseDn ?? options.baseDn,
    maxDepth: options.maxGroupDepth ?? DEFAULT_MAX_GROUP_DEPTH,
    maxGroups: options.maxGroups ?? DEFAULT_MAX_GROUPS,
  });
  const identity = identityFromEntry(entry, found.groups, found.complete, mapping);
  const list = (values: readonly string[]) => (values.length === 0 ? 'none' : values.join(', '));
  const what = `"${identity.username}" is ${entry.dn}: groups ${list(identity.groups)}; roles ${list(identity.roles)}; ${identity.kind === 'user' ? 'a person' : `a service account (rule ${identity.serviceAccountRule ?? ''})`}`;
  return identity.kind === 'user' && found.complete
    ? ok('ldap.user', what)
    : warn(
        'ldap.user',
        what,
        found.complete
          ? 'Service accounts are refused on AI routes.'
          : 'Group lookup stopped at "maxGroups": group checks refuse this user.',
      );
}
