import { IdentityError } from './errors.js';
import type { Identity } from './identity.js';

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
  authenticate(credentials: PasswordCredentials): Promise<Identity>;
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
