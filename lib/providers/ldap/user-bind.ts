import type { Entry } from 'ldapts';
import {
  bindFailureReason,
  directoryUnavailable,
  isCredentialFailure,
  signInRefused,
} from './directory-errors.js';
import { allValues } from './ldap-entry.js';
import type { LdapClient } from './ldap-options.js';
import { PasswordPolicyControl, passwordPolicyRefusal } from './password-policy.js';

/**
 * Binds as the person, with the password policy control, and refuses (401, reason in the
 * details) when the password is wrong or the directory's policy says the account may not be used
 * now: locked, password expired, or a password an administrator reset that must be changed
 * first. The last one binds successfully on OpenLDAP, so success alone is not enough. Warnings
 * (grace logins left, time before expiration) let the bind stand.
 */
export async function userBind(
  client: LdapClient,
  dn: string,
  password: string,
  entry?: Entry,
): Promise<void> {
  const policy = new PasswordPolicyControl();
  try {
    await client.bind(dn, password, policy);
  } catch (error) {
    if (isCredentialFailure(error)) {
      // The server's own statement first; then what the entry shows; then AD's sub-code.
      const reason =
        passwordPolicyRefusal(policy.response) ??
        (entry === undefined ? undefined : lockedReason(entry)) ??
        bindFailureReason(error);
      throw signInRefused(reason, error);
    }
    // A DN the server cannot parse (from a template) is the user's input, not an outage.
    if (error instanceof Error && error.name === 'InvalidDNSyntaxError') {
      throw signInRefused('username_invalid', error);
    }
    throw directoryUnavailable('user_bind', error);
  }
  const refused = passwordPolicyRefusal(policy.response);
  if (refused !== undefined) throw signInRefused(refused);
}

// OpenLDAP's ppolicy marks a locked account with pwdAccountLockedTime, but keeps the mark after
// a temporary lock has expired until the next successful bind: so the bind decides, and the mark
// only names the reason when the bind fails. Servers without `ppolicy_use_lockout` say nothing
// more in the policy response, so for them this mark is the only clue (search-then-bind only).
function lockedReason(entry: Entry): string | undefined {
  return allValues(entry, 'pwdAccountLockedTime').length > 0 ? 'account_locked' : undefined;
}
