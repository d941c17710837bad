import { createServer, type Socket } from 'node:net';
import { Client, type ClientOptions } from 'ldapts';
import { refusal } from '../../helpers/refusal.js';
import { IdentityError } from '../../../lib/index.js';
import type { PasswordSignInContext } from '../../../lib/core/password-sign-in.js';
import {
  createLdapAuthenticator,
  type LdapAuthenticatorOptions,
  type LdapClient,
} from '../../../lib/ldap.js';
import {
  SLAPD_BASE_DN,
  SLAPD_GROUPS,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../../helpers/slapd.js';

const { alice, bob, svcReporting, lockedUser, zoe, dup1, mustChange, expired } = SLAPD_USERS;
const GROUP_BASE = `ou=Groups,${SLAPD_BASE_DN}`;
const SERVICE_OU = `ou=Service Accounts,${SLAPD_BASE_DN}`;

let slapd: Slapd;
beforeAll(async () => {
  slapd = await startSlapd();
}, 60_000);
afterAll(() => slapd.stop());

const portOf = (url: string): number => Number(new URL(url).port);

function directory(overrides: Partial<LdapAuthenticatorOptions> = {}) {
  return createLdapAuthenticator({
    type: 'ldap',
    host: '127.0.0.1',
    port: portOf(slapd.ldapsUrl),
    ca: slapd.ca,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
    groupBaseDn: GROUP_BASE,
    mapping: { role_mapping: { 'ai-users': 'assistant_user', 'data-readers': 'analyst' } },
    serviceAccounts: { ous: [SERVICE_OU] },
    ...overrides,
  });
}

/** Real ldapts clients, counted: every connection opened must be closed, on every path. */
function countingFactory() {
  const calls = { created: 0, unbound: 0, binds: [] as string[], startTls: 0 };
  const createClient = (options: ClientOptions): LdapClient => {
    const client = new Client(options);
    calls.created += 1;
    return {
      startTLS: async (tls) => {
        calls.startTls += 1;
        await client.startTLS(tls);
      },
      bind: async (dn, password, controls) => {
        calls.binds.push(dn);
        await client.bind(dn, password, controls);
      },
      search: (base, options) => client.search(base, options),
      unbind: async () => {
        calls.unbound += 1;
        await client.unbind();
      },
    };
  };
  return { calls, createClient };
}

describe('search, then bind (OpenLDAP over LDAPS)', () => {
  test('a person signs in by uid: identity, nested groups and mapped roles', async () => {
    const identity = await directory().authenticate({
      username: alice.uid,
      password: alice.password,
    });
    expect(identity).toMatchObject({
      provider: 'ldap',
      issuer: `ldaps://127.0.0.1:${portOf(slapd.ldapsUrl)}/${SLAPD_BASE_DN}`,
      kind: 'user',
      username: 'alice',
      email: alice.mail,
      name: alice.cn,
      groupsComplete: true,
    });
    // entryUUID: stable across renames, unlike the DN.
    expect(identity.subject).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    // Three levels of nesting: all-staff ⊃ data-readers ⊃ ai-users ⊃ alice.
    expect([...identity.groups].sort()).toEqual(
      [SLAPD_GROUPS.aiUsers.cn, SLAPD_GROUPS.allStaff.cn, SLAPD_GROUPS.dataReaders.cn].sort(),
    );
    expect([...identity.roles].sort()).toEqual(['analyst', 'assistant_user']);
    expect(identity.attributes['dn']).toBe(alice.dn);
    expect(JSON.stringify(identity)).not.toContain(alice.password);
  });

  test('by mail too, and the same person results', async () => {
    const byMail = await directory().authenticate({
      username: alice.mail,
      password: alice.password,
    });
    expect(byMail.username).toBe('alice');
  });

  test('bob is in finance only; a unicode username signs in', async () => {
    const bobIdentity = await directory().authenticate({
      username: bob.uid,
      password: bob.password,
    });
    expect(bobIdentity.groups).toEqual([SLAPD_GROUPS.finance.cn]);
    expect(bobIdentity.roles).toEqual([]);
    const zoeIdentity = await directory().authenticate({
      username: zoe.uid,
      password: zoe.password,
    });
    expect(zoeIdentity).toMatchObject({ username: 'zoë', name: 'Zoë Ünïcode' });
  });

  test('an account under a service-account OU is kind service', async () => {
    const identity = await directory().authenticate({
      username: svcReporting.uid,
      password: svcReporting.password,
    });
    expect(identity).toMatchObject({ kind: 'service', serviceAccountRule: 'ldap-service-ou' });
    const byPattern = await directory({ serviceAccounts: { patterns: ['svc-*'] } }).authenticate({
      username: svcReporting.uid,
      password: svcReporting.password,
    });
    expect(byPattern).toMatchObject({ kind: 'service', serviceAccountRule: 'deny-list' });
  });

  test('StartTLS on the plain port works, with certificate checks', async () => {
    const { calls, createClient } = countingFactory();
    const identity = await directory({
      port: portOf(slapd.url),
      tls: 'starttls',
      createClient,
    }).authenticate({ username: alice.uid, password: alice.password });
    expect(identity.username).toBe('alice');
    expect(calls.startTls).toBe(1);
  });

  test('a fresh connection per sign-in, closed on success and on failure', async () => {
    const { calls, createClient } = countingFactory();
    const auth = directory({ createClient });
    await auth.authenticate({ username: alice.uid, password: alice.password });
    await refusal(auth.authenticate({ username: alice.uid, password: 'wrong-password' }));
    await refusal(auth.authenticate({ username: 'nobody-here', password: 'x-password' }));
    expect(calls.created).toBe(3);
    expect(calls.unbound).toBe(3);
  });
});

describe('failed sign-ins: one answer for every reason, the reason in the details', () => {
  const cases: [string, () => { username: string; password: string }, string][] = [
    [
      'wrong password',
      () => ({ username: alice.uid, password: 'not-her-password' }),
      'invalid_credentials',
    ],
    ['unknown user', () => ({ username: 'mallory', password: 'any-Password-1' }), 'user_not_found'],
    [
      'locked account',
      () => ({ username: lockedUser.uid, password: lockedUser.password }),
      'account_locked',
    ],
    [
      'two entries match',
      () => ({ username: dup1.mail, password: dup1.password }),
      'ambiguous_user',
    ],
  ];
  test.each(cases)('%s → 401 invalid_credentials (%s)', async (_name, input, reason) => {
    const error = await refusal(directory().authenticate(input()));
    expect({ code: error.code, status: error.status, reason: error.details['reason'] }).toEqual({
      code: 'invalid_credentials',
      status: 401,
      reason,
    });
    // The client-facing message is the same whatever the reason: no account enumeration.
    expect(error.message).toBe(
      'The username or password is incorrect, or the account cannot sign in. Check them and retry, or contact your administrator.',
    );
  });
});

/**
 * A sign-in context that records what the authenticator tells it, and the binds sent so far at
 * each account guard: the guard must come before the user's bind.
 */
function recordingContext(binds: readonly string[], refuse?: IdentityError) {
  const told = { guarded: [] as { key: string; bindsBefore: string[] }[], passwordAccepted: 0 };
  const context: PasswordSignInContext = {
    guardAccount(key) {
      told.guarded.push({ key, bindsBefore: [...binds] });
      return refuse === undefined ? Promise.resolve() : Promise.reject(refuse);
    },
    passwordAccepted() {
      told.passwordAccepted += 1;
    },
  };
  return { told, context };
}

describe('the sign-in context: the account for the throttle, and a right password refused', () => {
  test('search, then bind: every login attribute leads to one key, the entryUUID, given before the user bind', async () => {
    const keys: string[] = [];
    for (const username of [alice.uid, alice.mail, alice.uid.toUpperCase()]) {
      const { calls, createClient } = countingFactory();
      const { told, context } = recordingContext(calls.binds);
      const identity = await directory({ createClient }).authenticate(
        { username, password: alice.password },
        context,
      );
      // Only the search account has bound when the guard runs; the user's bind comes after.
      expect(told.guarded).toEqual([{ key: identity.subject, bindsBefore: [SLAPD_READER.dn] }]);
      expect(calls.binds.slice(0, 2)).toEqual([SLAPD_READER.dn, alice.dn]);
      expect(told.passwordAccepted).toBe(0);
      keys.push(identity.subject);
    }
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test("a guard's refusal propagates as it is: no user bind is sent, the connection is closed", async () => {
    const { calls, createClient } = countingFactory();
    const blocked = new IdentityError('too_many_attempts', 'Too many failed sign-in attempts.', {
      retryAfterSec: 60,
    });
    const { context } = recordingContext(calls.binds, blocked);
    const error = await refusal(
      directory({ createClient }).authenticate(
        { username: bob.mail, password: 'Guess-1' },
        context,
      ),
    );
    expect(error).toBe(blocked);
    expect(calls.binds).toEqual([SLAPD_READER.dn]);
    expect(calls.unbound).toBe(1);
  });

  test('no account found: no guard (nothing to lock), the name alone is counted', async () => {
    const { calls, createClient } = countingFactory();
    const { told, context } = recordingContext(calls.binds);
    await refusal(
      directory({ createClient }).authenticate(
        { username: 'mallory', password: 'x-Pw-1' },
        context,
      ),
    );
    expect(told.guarded).toEqual([]);
  });

  test('userDnTemplate: the guard gets the normalized DN, before any bind', async () => {
    const keys: string[] = [];
    for (const username of ['alice', 'ALICE']) {
      const { calls, createClient } = countingFactory();
      const { told, context } = recordingContext(calls.binds);
      await directory({
        createClient,
        bindDn: undefined,
        bindPassword: undefined,
        userDnTemplate: `uid={username},ou=People,${SLAPD_BASE_DN}`,
      }).authenticate({ username, password: alice.password }, context);
      expect(told.guarded).toEqual([{ key: expect.any(String) as string, bindsBefore: [] }]);
      keys.push(told.guarded[0]?.key ?? '');
    }
    expect(keys).toEqual([
      `uid=alice,ou=people,${SLAPD_BASE_DN}`,
      `uid=alice,ou=people,${SLAPD_BASE_DN}`,
    ]);
  });

  // ppolicy checks expiry and pwdReset only once the password is verified (and then clears its
  // own failure count); a wrong password gets no policy error and is counted.
  test.each([
    ['must change, right password', () => mustChange, true, 'password_must_change', 1],
    ['expired, right password', () => expired, true, 'password_expired', 1],
    ['must change, wrong password', () => mustChange, false, 'invalid_credentials', 0],
    ['expired, wrong password', () => expired, false, 'invalid_credentials', 0],
    ['locked (the password is not even checked)', () => lockedUser, true, 'account_locked', 0],
    ['a good account, wrong password', () => alice, false, 'invalid_credentials', 0],
  ])('%s', async (_name, user, right, reason, accepted) => {
    const person = user();
    const { context, told } = recordingContext([]);
    const error = await refusal(
      directory().authenticate(
        { username: person.uid, password: right ? person.password : 'Wrong-Guess-1' },
        context,
      ),
    );
    expect({ reason: error.details['reason'], passwordAccepted: told.passwordAccepted }).toEqual({
      reason,
      passwordAccepted: accepted,
    });
  });
});

describe('hostile input', () => {
  const injections = ['*', 'alice)(uid=*', '*)(uid=*))(|(uid=*', 'al*', '(uid=alice)', 'alice\\2a'];
  test.each(injections)(
    "filter injection %j with alice's password signs nobody in",
    async (username) => {
      const error = await refusal(directory().authenticate({ username, password: alice.password }));
      expect(error.code).toBe('invalid_credentials');
      expect(error.details['reason']).toBe('user_not_found');
    },
  );

  test('NUL, control characters and surrounding spaces are refused before the directory', async () => {
    const { calls, createClient } = countingFactory();
    for (const username of ['alice\u0000', 'alice\n', ' alice', 'ali\u001bce']) {
      const error = await refusal(
        directory({ createClient }).authenticate({ username, password: alice.password }),
      );
      expect(error.code).toBe('invalid_request');
    }
    expect(calls.created).toBe(0);
  });

  test.each([
    ['empty', ''],
    ['missing', undefined],
    ['a number', 12345],
    ['an array', ['alice-Password-1']],
    ['an object', { $ne: '' }],
    ['with NUL', 'alice-Password-1\u0000'],
    ['too long', 'p'.repeat(1025)],
  ])('a password that is %s never reaches a bind (400)', async (_name, password) => {
    const { calls, createClient } = countingFactory();
    const error = await refusal(
      directory({ createClient }).authenticate({
        username: alice.uid,
        password: password as string,
      }),
    );
    expect({ code: error.code, status: error.status }).toEqual({
      code: 'invalid_request',
      status: 400,
    });
    expect(calls.created).toBe(0);
  });

  test('a very long username is a 400, before the directory', async () => {
    const error = await refusal(
      directory().authenticate({ username: 'a'.repeat(10_000), password: alice.password }),
    );
    expect(error.code).toBe('invalid_request');
  });

  test('DN injection through a direct-bind template is escaped (RFC 4514)', async () => {
    const template = directory({
      bindDn: undefined,
      bindPassword: undefined,
      userDnTemplate: `uid={username},ou=People,${SLAPD_BASE_DN}`,
    });
    expect(
      (await template.authenticate({ username: alice.uid, password: alice.password })).username,
    ).toBe('alice');
    // Unescaped, this would bind as the service account in another OU.
    const error = await refusal(
      template.authenticate({
        username: `svc-reporting,ou=Service Accounts`,
        password: svcReporting.password,
      }),
    );
    expect(error.code).toBe('invalid_credentials');
  });
});

describe('outages are 503, never 401, and the process stays healthy', () => {
  test('directory down (connection refused)', async () => {
    const closed = await closedPort();
    const error = await refusal(
      directory({ port: closed }).authenticate({ username: alice.uid, password: alice.password }),
    );
    expect({ code: error.code, status: error.status, expose: error.expose }).toEqual({
      code: 'identity_provider_unavailable',
      status: 503,
      expose: false,
    });
    expect(error.details['directory_error']).toBe('ECONNREFUSED');
  });

  test('directory hanging: the sign-in ends at the timeout', async () => {
    const auth = directory({ timeoutMs: 300, connectTimeoutMs: 300 });
    slapd.hang();
    const started = Date.now();
    try {
      const error = await refusal(
        auth.authenticate({ username: alice.uid, password: alice.password }),
      );
      expect(error.code).toBe('identity_provider_unavailable');
    } finally {
      slapd.resume();
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    // Resumed: the same authenticator works again.
    expect(
      (await auth.authenticate({ username: alice.uid, password: alice.password })).username,
    ).toBe('alice');
  });

  test('a TCP server that accepts and never answers a TLS handshake', async () => {
    const silent = await silentServer();
    try {
      const error = await refusal(
        directory({ port: silent.port, timeoutMs: 300, connectTimeoutMs: 300 }).authenticate({
          username: alice.uid,
          password: alice.password,
        }),
      );
      expect(error.code).toBe('identity_provider_unavailable');
    } finally {
      await silent.close();
    }
  });

  test('a certificate from the wrong CA is refused (LDAPS)', async () => {
    const error = await refusal(
      directory({ ca: slapd.wrongCa }).authenticate({
        username: alice.uid,
        password: alice.password,
      }),
    );
    expect(error.code).toBe('identity_provider_unavailable');
    expect(String(error.details['directory_error'])).toMatch(/TLS certificate rejected/);
  });

  test('StartTLS with the wrong CA: nothing is bound, so no password is sent', async () => {
    const { calls, createClient } = countingFactory();
    const error = await refusal(
      directory({
        port: portOf(slapd.url),
        tls: 'starttls',
        ca: slapd.wrongCa,
        createClient,
      }).authenticate({ username: alice.uid, password: alice.password }),
    );
    expect(error.code).toBe('identity_provider_unavailable');
    expect(error.details['step']).toBe('starttls');
    expect(calls.binds).toEqual([]);
    expect(calls.unbound).toBe(1);
  });

  test("a wrong search-account password is a configuration problem (503), not the user's 401", async () => {
    const error = await refusal(
      directory({ bindPassword: 'not-the-reader-password' }).authenticate({
        username: alice.uid,
        password: alice.password,
      }),
    );
    expect(error.code).toBe('identity_provider_unavailable');
    expect(error.details['step']).toBe('service_bind');
  });
});

describe('options are checked at startup', () => {
  const base = (): LdapAuthenticatorOptions => ({
    type: 'ldap',
    host: '127.0.0.1',
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
  });
  test.each<[string, Partial<LdapAuthenticatorOptions> & Record<string, unknown>, RegExp]>([
    [
      'no way to find accounts',
      { bindDn: undefined, bindPassword: undefined },
      /option "bindDn": give "bindDn"/,
    ],
    [
      'bindDn without a password',
      { bindPassword: undefined },
      /option "bindPassword": is required/,
    ],
    [
      'two ways at once',
      { accountSuffix: '@example.com' },
      /option "accountSuffix": conflicts with "bindDn"/,
    ],
    [
      'plaintext and tls together',
      { tls: 'ldaps', dangerouslyAllowPlaintext: true },
      /option "dangerouslyAllowPlaintext": conflicts with "tls"/,
    ],
    [
      'an invalid user filter',
      { userFilter: '(objectClass=person' },
      /option "userFilter": not a valid LDAP filter/,
    ],
    [
      'a URL where the host belongs',
      { host: 'ldap://dc1.example.com' },
      /option "host" must be a host name/,
    ],
    ['a host with a port', { host: 'dc1.example.com:636' }, /option "host" must be a host name/],
    ['a bracketed IPv6 host', { host: '[::1]' }, /option "host" must be a host name/],
    [
      'a misspelled option',
      { acountSuffix: '@x.com' },
      /unknown option "acountSuffix" \(did you mean "accountSuffix"\?\)/,
    ],
    ['no type', { type: undefined }, /option "type"/],
  ])('%s', (_name, overrides, message) => {
    expect(() => createLdapAuthenticator({ ...base(), ...overrides })).toThrow(message);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    // Accepts the connection and says nothing: a stalled TLS handshake. The ClientHello is never
    // read, so the client's FIN is never seen either: closing has to destroy the socket.
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
