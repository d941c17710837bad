import type { Entry } from 'ldapts';
import type { PasswordSignInContext } from '../../core/password-sign-in.js';
import {
  bindFailureReason,
  directoryUnavailable,
  isCredentialFailure,
  signInRefused,
} from './directory-errors.js';
import { allValues } from './ldap-entry.js';
import type { LdapClient } from './ldap-options.js';
import { PasswordPolicyControl, passwordPolicyRefusal } from './password-policy.js';

// Refusals of a failed bind that the directory gives only for the right password: AD's 773 and
// 532 (a wrong one is 52e, and raises badPwdCount), and ppolicy's passwordExpired (it checks
// expiry once the password is verified, and a wrong one gets no policy error).
const PASSWORD_RIGHT_REASONS: ReadonlySet<string> = new Set([
  'password_must_change',
  'password_expired',
]);

/** What {@link userBind} knows besides the DN and the password. */
export interface UserBindOptions {
  /** The entry a search found: its lockout mark names the reason of a failed bind. */
  readonly entry?: Entry;
  /** Told when the password was right and the sign-in is refused all the same. */
  readonly context?: PasswordSignInContext | undefined;
}

/**
 * Binds as the person, with the password policy control, and refuses (401, reason in the
 * details) when the password is wrong or the directory's policy says the account may not be used
 * now: locked, password expired, or a password an administrator reset that must be changed
 * first. The last one binds successfully on OpenLDAP, so success alone is not enough. Warnings
 * (grace logins left, time before expiration) let the bind stand. A refusal after the right
 * password (must change, expired) is reported to `context.passwordAccepted()`: the directory does
 * not count it towards its lockout, so the throttle must not either.
 */
export async function userBind(
  client: LdapClient,
  dn: string,
  password: string,
  { entry, context }: UserBindOptions = {},
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
      if (PASSWORD_RIGHT_REASONS.has(reason)) context?.passwordAccepted();
      throw signInRefused(reason, error);
    }
    // A DN the server cannot parse (from a template) is the user's input, not an outage.
    if (error instanceof Error && error.name === 'InvalidDNSyntaxError') {
      throw signInRefused('username_invalid', error);
    }
    throw directoryUnavailable('user_bind', error);
  }
  const refused = passwordPolicyRefusal(policy.response);
  if (refused !== undefined) {
    // The bind succeeded, so the password was right: only the policy refuses.
    context?.passwordAccepted();
    throw signInRefused(refused);
  }
}

// OpenLDAP's ppolicy marks a locked account with pwdAccountLockedTime, but keeps the mark after
// a temporary lock has expired until the next successful bind: so the bind decides, and the mark
// only names the reason when the bind fails. Servers without `ppolicy_use_lockout` say nothing
// more in the policy response, so for them this mark is the only clue (search-then-bind only).
function lockedReason(entry: Entry): string | undefined {
  return allValues(entry, 'pwdAccountLockedTime').length > 0 ? 'account_locked' : undefined;
}
