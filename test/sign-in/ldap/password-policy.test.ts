// The password policy control (draft-behera-ldap-password-policy): its BER read on plain bytes,
// then honoured in every bind mode against a real slapd with the ppolicy overlay.
import { BerReader, BerWriter } from 'ldapts';
import { refusal } from '../../helpers/refusal.js';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from '../../../lib/ldap.js';
import {
  PASSWORD_POLICY_OID,
  PasswordPolicyControl,
  passwordPolicyRefusal,
} from '../../../lib/sign-in/ldap/password-policy.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../../helpers/slapd.js';

const { alice, lockedUser, mustChange, expired, graceUser, expiringSoon } = SLAPD_USERS;

/** A PasswordPolicyResponseValue, encoded as OpenLDAP encodes it. */
function responseValue(parts: { warning?: [0x80 | 0x81, number]; error?: number }): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  if (parts.warning !== undefined) {
    writer.startSequence(0xa0);
    writer.writeInt(parts.warning[1], parts.warning[0]);
    writer.endSequence();
  }
  if (parts.error !== undefined) writer.writeEnumeration(parts.error, 0x81);
  writer.endSequence();
  return writer.buffer;
}

function parsed(value: Buffer) {
  const control = new PasswordPolicyControl();
  control.parse(new BerReader(value));
  return control.response;
}

describe('PasswordPolicyControl', () => {
  test('the request is the OID alone, not critical (servers without a policy ignore it)', () => {
    const writer = new BerWriter();
    new PasswordPolicyControl().write(writer);
    const reader = new BerReader(writer.buffer);
    reader.readSequence();
    expect([reader.readString(), reader.readBoolean(), reader.remain]).toEqual([
      PASSWORD_POLICY_OID,
      false,
      0,
    ]);
  });

  test.each([
    ['nothing to report', {}, {}, undefined],
    ['grace logins left', { warning: [0x81, 3] }, { graceAuthNsRemaining: 3 }, undefined],
    [
      'time before expiration',
      { warning: [0x80, 86_400] },
      { timeBeforeExpirationSec: 86_400 },
      undefined,
    ],
    ['password expired', { error: 0 }, { error: 'passwordExpired' }, 'password_expired'],
    ['account locked', { error: 1 }, { error: 'accountLocked' }, 'account_locked'],
    ['change after reset', { error: 2 }, { error: 'changeAfterReset' }, 'password_must_change'],
    [
      'a warning and an error',
      { warning: [0x81, 0], error: 0 },
      { graceAuthNsRemaining: 0, error: 'passwordExpired' },
      'password_expired',
    ],
    ['an error this code does not know', { error: 42 }, { error: 'unknown' }, 'password_policy'],
  ] as const)('%s', (_name, parts, response, reason) => {
    const result = parsed(responseValue(parts as Parameters<typeof responseValue>[0]));
    expect(result).toEqual(response);
    expect(passwordPolicyRefusal(result)).toBe(reason);
  });

  test('no response (a server without the overlay) refuses nothing', () => {
    expect(new PasswordPolicyControl().response).toBeUndefined();
    expect(passwordPolicyRefusal(undefined)).toBeUndefined();
  });

  test.each([
    ['an empty value', Buffer.alloc(0)],
    ['an unknown field', Buffer.from([0x30, 0x03, 0x82, 0x01, 0x00])],
    ['an unknown warning', Buffer.from([0x30, 0x05, 0xa0, 0x03, 0x82, 0x01, 0x01])],
    ['a negative count', Buffer.from([0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0xff])],
  ])('%s is an error, never "nothing to report"', (_name, value) => {
    expect(() => parsed(value)).toThrow(/password policy response control: malformed/);
  });
});

describe('OpenLDAP ppolicy, in every bind mode', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await startSlapd();
  }, 60_000);
  afterAll(() => slapd.stop());

  const modes: [string, Partial<LdapAuthenticatorOptions>][] = [
    ['search, then bind', {}],
    [
      'DN template',
      {
        bindDn: undefined,
        bindPassword: undefined,
        userDnTemplate: `uid={username},ou=People,${SLAPD_BASE_DN}`,
      },
    ],
  ];

  function directory(overrides: Partial<LdapAuthenticatorOptions>) {
    return createLdapAuthenticator({
      type: 'ldap',
      host: '127.0.0.1',
      port: Number(new URL(slapd.ldapsUrl).port),
      ca: slapd.ca,
      baseDn: SLAPD_BASE_DN,
      bindDn: SLAPD_READER.dn,
      bindPassword: SLAPD_READER.password,
      // People may read groups, not the whole tree: with a direct bind they search as themselves.
      groupBaseDn: `ou=Groups,${SLAPD_BASE_DN}`,
      ...overrides,
    });
  }

  describe.each(modes)('%s', (_mode, overrides) => {
    test.each([
      ['a password an administrator reset (pwdReset)', 'password_must_change', mustChange],
      ['an expired password without grace logins', 'password_expired', expired],
      ['a locked account', 'account_locked', lockedUser],
    ])('%s: the right password is refused (401, %s)', async (_name, reason, user) => {
      const error = await refusal(
        directory(overrides).authenticate({ username: user.uid, password: user.password }),
      );
      expect({ code: error.code, status: error.status, reason: error.details['reason'] }).toEqual({
        code: 'invalid_credentials',
        status: 401,
        reason,
      });
    });

    test.each([
      ['a normal user', alice],
      ['an expired password with grace logins left', graceUser],
      ['a password about to expire', expiringSoon],
    ])('control: %s signs in', async (_name, user) => {
      const identity = await directory(overrides).authenticate({
        username: user.uid,
        password: user.password,
      });
      expect(identity.username).toBe(user.uid);
    });
  });
});
