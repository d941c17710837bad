import { Control, InvalidAsn1Error, type BerReader } from 'ldapts';

/** The password policy control, request and response (draft-behera-ldap-password-policy §6). */
export const PASSWORD_POLICY_OID = '1.3.6.1.4.1.42.2.27.8.5.1';

/** What the directory's password policy said about a bind. */
export interface PasswordPolicyResponse {
  /** Why the account may not be used, as the server states it; absent when nothing is wrong. */
  readonly error?: PasswordPolicyError;
  /** Seconds until the password expires (the server warns within `pwdExpireWarning`). */
  readonly timeBeforeExpirationSec?: number;
  /** Binds left with an expired password (`pwdGraceAuthNLimit`); this bind used one. */
  readonly graceAuthNsRemaining?: number;
}

/** The `error` values of the response, in the draft's order (OpenLDAP adds `passwordTooLong`). */
export const PASSWORD_POLICY_ERRORS = Object.freeze([
  'passwordExpired',
  'accountLocked',
  'changeAfterReset',
  'passwordModNotAllowed',
  'mustSupplyOldPassword',
  'insufficientPasswordQuality',
  'passwordTooShort',
  'passwordTooYoung',
  'passwordInHistory',
  'passwordTooLong',
] as const);

export type PasswordPolicyError = (typeof PASSWORD_POLICY_ERRORS)[number] | 'unknown';

// Context tags of PasswordPolicyResponseValue: warning [0] (constructed, a CHOICE of
// timeBeforeExpiration [0] and graceAuthNsRemaining [1]) and error [1] (an ENUMERATED).
const WARNING = 0xa0;
const TIME_BEFORE_EXPIRATION = 0x80;
const GRACE_AUTHNS_REMAINING = 0x81;
const ERROR = 0x81;

/**
 * The password policy request control, sent non-critical on the user's bind so that servers
 * without the overlay (Active Directory among them) ignore it, and the response read back from
 * the same object.
 *
 * Hand-written because ldapts ships no password policy control and surfaces no bind response
 * controls of its own: its `ControlParser` hands a response control whose OID matches a request
 * control to that request control's `parse()`, success or failure alike. So one instance per bind
 * is sent and then read. The value is BER, read with ldapts's own `BerReader`.
 *
 * Without this control OpenLDAP still answers a bind for a password that must be changed with
 * success, and restricts the connection instead: a client that binds again as someone else (a
 * search account) would never notice, and sign a person in whose administrator demanded a new
 * password first.
 */
export class PasswordPolicyControl extends Control {
  /** Undefined until a response carried the control: the server may have no password policy. */
  public response: PasswordPolicyResponse | undefined;

  public constructor() {
    // No value: the request control is the OID alone (draft §6.1).
    super(PASSWORD_POLICY_OID, { critical: false });
  }

  protected override parseControl(reader: BerReader): void {
    // A value that is not what the draft describes fails the message, and so the bind: an
    // unreadable answer about a password's state must not pass as "nothing to report".
    const response: { -readonly [K in keyof PasswordPolicyResponse]: PasswordPolicyResponse[K] } =
      {};
    if (reader.readSequence(0x30) === null) throw malformed('no sequence');
    const end = reader.offset + reader.length;
    while (reader.offset < end) {
      const tag = reader.peek();
      if (tag === WARNING) {
        reader.readSequence(WARNING);
        const choice = reader.peek();
        const value = reader.readTag(choice ?? 0);
        if (value === null || value < 0) throw malformed('warning');
        if (choice === TIME_BEFORE_EXPIRATION) response.timeBeforeExpirationSec = value;
        else if (choice === GRACE_AUTHNS_REMAINING) response.graceAuthNsRemaining = value;
        else throw malformed('warning choice');
      } else if (tag === ERROR) {
        const value = reader.readTag(ERROR);
        if (value === null) throw malformed('error');
        // An error this code does not know is still an error: the bind is refused.
        response.error = PASSWORD_POLICY_ERRORS[value] ?? 'unknown';
      } else {
        throw malformed(`tag 0x${(tag ?? 0).toString(16)}`);
      }
    }
    this.response = Object.freeze(response);
  }
}

/**
 * The reason a bind must not sign the person in, from the policy response, or undefined when it
 * may. It applies to successful binds too: OpenLDAP lets a password that must be changed bind.
 * Warnings (grace logins left, time before expiration) do not refuse.
 */
export function passwordPolicyRefusal(
  response: PasswordPolicyResponse | undefined,
): string | undefined {
  switch (response?.error) {
    case undefined:
      return undefined;
    case 'passwordExpired':
      return 'password_expired';
    case 'accountLocked':
      return 'account_locked';
    case 'changeAfterReset':
      return 'password_must_change';
    default:
      return 'password_policy';
  }
}

function malformed(part: string): InvalidAsn1Error {
  return new InvalidAsn1Error(`password policy response control: malformed ${part}`);
}
