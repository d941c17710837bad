import { IdentityError, isIdentityError } from './errors.js';
import type { Identity } from './identity.js';
import type { SignInAttempt } from './sign-in-throttle.js';

/** A username and password as a sign-in form sent them, already checked to be strings. */
export interface PasswordCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Checks a username and password and returns the person's {@link Identity}: the interface the
 * sign-in route takes, so that any directory (LDAP, Active Directory, a database) can plug in.
 * Wrong credentials must throw `invalid_credentials`; an unreachable directory must throw a
 * 5xx `IdentityError`, never a 401.
 */
export interface PasswordAuthenticator {
  /** The identity provider's name in audit events (`ldap`). */
  readonly provider: string;
  /**
   * `context`, given by the sign-in route, lets the throttle count the account rather than the
   * name typed. An authenticator that ignores it still works, throttled by the name alone.
   */
  authenticate(
    credentials: PasswordCredentials,
    context?: PasswordSignInContext,
  ): Promise<Identity>;
}

/**
 * What the sign-in route lends {@link PasswordAuthenticator.authenticate} for one attempt, so that
 * failed sign-ins are counted the way the directory counts them before it locks an account.
 *
 * @example
 * ```ts
 * async authenticate({ username, password }, context) {
 *   const user = await users.findByLogin(username); // by name, email, employee number...
 *   if (user === undefined) throw refused();
 *   await context?.guardAccount(user.id); // 429 here if this person is over the limit
 *   if (!(await verify(user.passwordHash, password))) throw refused();
 *   if (user.mustChangePassword) {
 *     context?.passwordAccepted(); // refused, but not a guess
 *     throw refused();
 *   }
 *   return identityOf(user);
 * }
 * ```
 */
export interface PasswordSignInContext {
  /**
   * Call with the account's stable key (a directory entry's objectGUID or entryUUID, a normalized
   * DN, a row id; compared exactly) once the name typed is resolved to an account and BEFORE the
   * password is checked. Throws `too_many_attempts` (429, let it propagate) when that account has
   * had too many failures under any of its names; otherwise the attempt counts against it too.
   * Directories lock the account, not the name: without this, `jsmith`, `john.smith@company.com`
   * and the mail address would each get the allowance, and together lock the person out.
   * Await it: a throttle shared by several instances answers through its store. (One not
   * awaited still refuses the sign-in, but only after the password has reached the directory.)
   */
  guardAccount(accountKey: string): Promise<void>;
  /**
   * Call when the password was verified right and the sign-in is refused all the same (it must
   * be changed, it has expired): the refusal is not a guess, and does not count. Call it only
   * where the password is known to be right; a wrong one reported so would escape the throttle.
   */
  passwordAccepted(): void;
}

/**
 * Runs `authenticator` for one throttled attempt and settles the attempt by the outcome: success
 * clears the counts; `invalid_credentials` stays counted as a guess; anything else (an outage, a
 * bad request, the account guard's own 429, a refusal after the password was accepted) is
 * uncounted. Without a throttle (`attempt` undefined) the guard lets everything through.
 */
export async function signInWithPassword(
  authenticator: PasswordAuthenticator,
  credentials: PasswordCredentials,
  attempt: SignInAttempt | undefined,
): Promise<Identity> {
  const reported = { passwordAccepted: false };
  const guards: Promise<void>[] = [];
  const context: PasswordSignInContext = Object.freeze({
    guardAccount(accountKey: string) {
      // A throttle in memory refuses at once (a throw, as before stores could be shared); one
      // in Redis answers with a promise, read again below whether or not it was awaited.
      const guarded = Promise.resolve(attempt?.resolvedTo(accountKey));
      guarded.catch(() => undefined);
      guards.push(guarded);
      return guarded;
    },
    passwordAccepted() {
      reported.passwordAccepted = true;
    },
  });
  try {
    const identity = await authenticator.authenticate(credentials, context);
    // An account guard the authenticator did not await still refuses the sign-in.
    await Promise.all(guards);
    await settle(() => attempt?.succeeded());
    return identity;
  } catch (error) {
    if (
      reported.passwordAccepted ||
      !isIdentityError(error) ||
      error.code !== 'invalid_credentials'
    ) {
      await settle(() => attempt?.uncounted());
    }
    throw error;
  }
}

/**
 * Settles an attempt. A store that fails here leaves the attempt counted (the throttle is then
 * stricter, never looser), and must not turn the sign-in's own outcome into an outage.
 */
async function settle(step: () => void | Promise<void>): Promise<void> {
  try {
    await step();
  } catch {
    // Deliberately ignored: see above.
  }
}

/** Longest accepted username: long enough for any UPN or email address (RFC 5321 §4.5.3.1.3). */
export const MAX_USERNAME_LENGTH = 256;
/** Longest accepted password. Longer is a denial-of-service attempt on the hashing, not a user. */
export const MAX_PASSWORD_LENGTH = 1_024;

/**
 * Reads a username and password from untrusted input, refusing what no directory should see:
 * non-strings, an empty password (many LDAP servers treat a simple bind with an empty password
 * as an anonymous bind, which "succeeds": RFC 4513 §5.1.2), control characters, absurd lengths.
 */
export function readPasswordCredentials(username: unknown, password: unknown): PasswordCredentials {
  if (typeof username !== 'string' || username.length === 0) {
    throw badRequest('Send a non-empty "username" (or "email") string.', 'username');
  }
  if (typeof password !== 'string' || password.length === 0) {
    throw badRequest('Send a non-empty "password" string.', 'password');
  }
  if (username.length > MAX_USERNAME_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw badRequest(
      `The username may have at most ${MAX_USERNAME_LENGTH} characters and the password ${MAX_PASSWORD_LENGTH}.`,
      username.length > MAX_USERNAME_LENGTH ? 'username' : 'password',
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(username) || username.trim() !== username) {
    throw badRequest(
      'The username contains control characters or surrounding spaces; send it as typed, without them.',
      'username',
    );
  }
  if (password.includes('\u0000')) {
    // A NUL ends the password early in C-based directory servers: never send one.
    throw badRequest('The password contains a NUL character.', 'password');
  }
  return { username: username.normalize('NFC'), password };
}

function badRequest(message: string, field: string): IdentityError {
  return new IdentityError('invalid_request', message, { details: { field } });
}
