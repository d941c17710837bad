// Active Directory behaviour against a real domain controller: Samba's AD DC, provisioned into a
// temp directory and listening on 127.0.0.1 (scripts/ad/samba-ad.sh).
import { randomBytes } from 'node:crypto';
import express from 'express';
import { Client } from 'ldapts';
import { closeServers, expectRefusal, serve } from '../../helpers/http.js';
import { refusal } from '../../helpers/refusal.js';
import {
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  sessionRoutes,
} from '../../../lib/index.js';
import type { PasswordSignInContext } from '../../../lib/core/password-sign-in.js';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from '../../../lib/ldap.js';
import {
  addSambaAdUser,
  SAMBA_AD_ADMIN,
  SAMBA_AD_BASE_DN,
  SAMBA_AD_GROUPS,
  SAMBA_AD_LOCKOUT_THRESHOLD,
  SAMBA_AD_USERS,
  sambaAdLockoutState,
  sambaAdSkipReason,
  startSambaAd,
  type SambaAd,
} from '../../helpers/samba-ad.js';

const { alice, bob, disabled, expired, mustChange, locked, svcReporting } = SAMBA_AD_USERS;
const SERVICE_OU = `OU=Service Accounts,${SAMBA_AD_BASE_DN}`;

let ad: SambaAd;
beforeAll(async () => {
  const started = await startSambaAd();
  // A missing DC fails the suite rather than passing it empty.
  if (started === undefined) {
    throw new Error(
      `No Samba AD DC: ${sambaAdSkipReason() ?? 'see the warning above'} (scripts/ad/samba-ad.sh)`,
    );
  }
  ad = started;
}, 400_000);
// Undefined when the DC never started.
afterAll(() => (ad as SambaAd | undefined)?.stop());

function directory(overrides: Partial<LdapAuthenticatorOptions> = {}) {
  return createLdapAuthenticator({
    type: 'active-directory',
    host: '127.0.0.1',
    ca: ad.ca,
    baseDn: SAMBA_AD_BASE_DN,
    accountSuffix: ad.upnSuffix,
    mapping: { role_mapping: { 'AI Users': 'assistant_user', 'All Staff': 'staff' } },
    serviceAccounts: { ous: [SERVICE_OU] },
    ...overrides,
  });
}

const searchThenBind = {
  accountSuffix: undefined,
  bindDn: SAMBA_AD_ADMIN.dn,
  bindPassword: SAMBA_AD_ADMIN.password,
};

test('direct bind with the UPN over LDAPS: objectGUID subject, nested groups through the in-chain rule', async () => {
  const identity = await directory().authenticate({
    username: alice.username,
    password: alice.password,
  });
  expect(identity).toMatchObject({
    provider: 'ldap',
    issuer: `ldaps://127.0.0.1:636/${SAMBA_AD_BASE_DN}`,
    kind: 'user',
    username: 'alice',
  });
  expect(identity.subject).toMatch(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );
  // alice's memberOf lists AI Users only; the DC resolves the two outer levels.
  expect(identity.groups).toEqual(
    expect.arrayContaining([
      SAMBA_AD_GROUPS.aiUsers.cn,
      SAMBA_AD_GROUPS.dataReaders.cn,
      SAMBA_AD_GROUPS.allStaff.cn,
    ]),
  );
  expect(identity.groups).not.toContain(SAMBA_AD_GROUPS.finance.cn);
  expect([...identity.roles].sort()).toEqual(['assistant_user', 'staff']);
});

test('the GUID subject is the real objectGUID, read independently', async () => {
  const identity = await directory().authenticate({
    username: alice.username,
    password: alice.password,
  });
  const client = new Client({ url: ad.ldapsUrl, tlsOptions: { ca: ad.ca } });
  try {
    await client.bind(SAMBA_AD_ADMIN.dn, SAMBA_AD_ADMIN.password);
    const { searchEntries } = await client.search(alice.dn, {
      scope: 'base',
      attributes: ['objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    const bytes = searchEntries[0]?.['objectGUID'] as Buffer;
    // The first three fields are little-endian in the binary form.
    const [a, b, c] = [bytes.subarray(0, 4), bytes.subarray(4, 6), bytes.subarray(6, 8)].map(
      (part) => Buffer.from(part).reverse().toString('hex'),
    );
    expect(identity.subject.startsWith(`${a}-${b}-${c}-`)).toBe(true);
  } finally {
    await client.unbind();
  }
});

test('search-then-bind finds the account by sAMAccountName or UPN', async () => {
  const auth = directory(searchThenBind);
  expect(
    (await auth.authenticate({ username: alice.username, password: alice.password })).username,
  ).toBe('alice');
  expect(
    (await auth.authenticate({ username: alice.upn, password: alice.password })).username,
  ).toBe('alice');
});

test('StartTLS on port 389', async () => {
  const identity = await directory({ tls: 'starttls' }).authenticate({
    username: bob.username,
    password: bob.password,
  });
  expect(identity.groups).toEqual([SAMBA_AD_GROUPS.finance.cn]);
});

test('an account in the service-account OU is kind service', async () => {
  const identity = await directory().authenticate({
    username: svcReporting.username,
    password: svcReporting.password,
  });
  expect(identity).toMatchObject({ kind: 'service', serviceAccountRule: 'ldap-service-ou' });
});

describe('bind sub-codes: the same 401 for the client, the precise reason for the audit', () => {
  test.each([
    [
      'wrong password (52e)',
      () => ({ username: bob.username, password: 'Wrong-Passw0rd!' }),
      'invalid_credentials',
    ],
    [
      'unknown user (52e)',
      () => ({ username: 'nobody', password: 'Any-Passw0rd!' }),
      'invalid_credentials',
    ],
    [
      'disabled (533)',
      () => ({ username: disabled.username, password: disabled.password }),
      'account_disabled',
    ],
    [
      'account expired (701)',
      () => ({ username: expired.username, password: expired.password }),
      'account_expired',
    ],
    [
      'must change password (773)',
      () => ({ username: mustChange.username, password: mustChange.password }),
      'password_must_change',
    ],
    [
      'locked out (775)',
      () => ({ username: locked.username, password: locked.password }),
      'account_locked',
    ],
  ])('%s', async (_name, input, reason) => {
    const error = await refusal(directory().authenticate(input()));
    expect({ code: error.code, status: error.status, reason: error.details['reason'] }).toEqual({
      code: 'invalid_credentials',
      status: 401,
      reason,
    });
    expect(error.message).not.toMatch(/data|LdapErr|DSID|AcceptSecurityContext/);
  });
});

describe('the full UPN, as people type it (and as the sign-in form\'s "email" field sends it)', () => {
  test.each([alice.upn, 'alice@EXAMPLE.TEST', 'Alice@Example.Test'])(
    '%s signs alice in',
    async (username) => {
      const identity = await directory().authenticate({ username, password: alice.password });
      expect(identity.username).toBe('alice');
    },
  );

  test('through the sign-in route, in the "email" field', async () => {
    const audit = createMemoryAuditSink();
    const app = express();
    app.use(
      '/auth',
      sessionRoutes({
        tokens: createSessionTokens({
          issuer: 'https://assistant.example.test',
          signingKeys: [generateSigningKey()],
        }),
        passwordSignIn: directory(),
        audit,
      }),
    );
    const agent = await serve(app);
    try {
      const res = await agent
        .post('/auth/session')
        .send({ email: alice.upn, password: alice.password });
      expect(res.status).toBe(200);
      expect((res.body as { user: { username: string } }).user.username).toBe('alice');
    } finally {
      await closeServers();
    }
  });

  test('control: a wrong password with the full UPN is still the 401 of a wrong password', async () => {
    const error = await refusal(
      directory().authenticate({ username: alice.upn, password: 'Wrong-Passw0rd!' }),
    );
    expect(error.details['reason']).toBe('invalid_credentials');
  });
});

test('a down-level or foreign-domain name cannot be smuggled into a UPN bind', async () => {
  for (const username of [
    'EXAMPLE\\alice',
    'alice@other.test',
    'alice@example.test.other.test',
    'alice@sub.example.test',
    'alice@example.test@example.test',
    '@example.test',
    alice.dn,
  ]) {
    const error = await refusal(directory().authenticate({ username, password: alice.password }));
    expect(error.code).toBe('invalid_credentials');
    expect(error.details['reason']).toBe('username_invalid');
  }
});

test('filter injection in search-then-bind finds nobody', async () => {
  for (const username of ['*', 'alice)(sAMAccountName=*', '*)(|(objectClass=*']) {
    const error = await refusal(
      directory(searchThenBind).authenticate({ username, password: alice.password }),
    );
    expect(error.details['reason']).toBe('user_not_found');
  }
});

describe('the throttle counts the account, not the name: no guessing through the assistant locks it', () => {
  const MINUTE = 60 * 1000;

  /** The sign-in route over `passwordSignIn`, with a clock the test moves. */
  async function signInRoute(
    passwordSignIn: ReturnType<typeof directory>,
    throttle: false | { maxFailuresPerAccount: number },
    now: () => number,
  ) {
    const app = express();
    app.use(
      '/auth',
      sessionRoutes({
        tokens: createSessionTokens({
          issuer: 'https://assistant.example.test',
          signingKeys: [generateSigningKey()],
        }),
        passwordSignIn,
        audit: createMemoryAuditSink(),
        throttle,
        now,
      }),
    );
    const agent = await serve(app);
    return (username: string, password: string) =>
      agent.post('/auth/session').send({ username, password });
  }

  /** A person whose sAMAccountName, UPN prefix and mail local part all differ. */
  function johnSmith() {
    const id = randomBytes(3).toString('hex');
    return addSambaAdUser(ad, {
      username: `jsmith-${id}`,
      upn: `john.smith-${id}@example.test`,
      mail: `johnny-${id}@example.test`,
      password: `Jsmith-${id}-Passw0rd!`,
    });
  }

  afterEach(closeServers);

  // The domain locks at 3, so the allowance is 2: the default (4) is for thresholds of 5 or more.
  const allowance = SAMBA_AD_LOCKOUT_THRESHOLD - 1;

  test('search-then-bind: sAMAccountName, UPN and mail share one allowance, and the account stays usable', async () => {
    const user = await johnSmith();
    let time = Date.now();
    const signIn = await signInRoute(
      directory(searchThenBind),
      { maxFailuresPerAccount: allowance },
      () => time,
    );
    const names = [user.username, user.upn, user.mail];
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 2 * names.length; attempt++) {
      statuses.push(
        (await signIn(names[attempt % names.length] as string, 'Wrong-Passw0rd!')).status,
      );
    }
    expect(statuses).toEqual([401, 401, 429, 429, 429, 429]);
    expect(await sambaAdLockoutState(ad, user.dn)).toEqual({
      badPwdCount: allowance,
      locked: false,
    });
    expectRefusal(await signIn(user.mail, user.password), {
      status: 429,
      code: 'too_many_attempts',
    });
    time += 15 * MINUTE;
    expect((await signIn(user.mail, user.password)).status).toBe(200);
    expect(await sambaAdLockoutState(ad, user.dn)).toEqual({ badPwdCount: 0, locked: false });
  });

  test('control: the same guesses unthrottled lock the account at the third', async () => {
    const user = await johnSmith();
    const signIn = await signInRoute(directory(searchThenBind), false, Date.now);
    for (const name of [user.username, user.upn, user.mail]) {
      expect((await signIn(name, 'Wrong-Passw0rd!')).status).toBe(401);
    }
    expect(await sambaAdLockoutState(ad, user.dn)).toMatchObject({ locked: true });
  });

  test('accountSuffix: the implicit and the explicit UPN count as two names, so the allowance must be at most half of one less than the threshold', async () => {
    const user = await johnSmith();
    const upnPrefix = user.upn.slice(0, user.upn.indexOf('@'));
    // AD binds `jsmith-…@example.test` (implicit UPN) and `john.smith-…@example.test` alike.
    const signIn = await signInRoute(
      directory(),
      { maxFailuresPerAccount: Math.floor(allowance / 2) },
      Date.now,
    );
    const statuses: number[] = [];
    for (const name of [user.username, upnPrefix, user.username, upnPrefix]) {
      statuses.push((await signIn(name, 'Wrong-Passw0rd!')).status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(await sambaAdLockoutState(ad, user.dn)).toEqual({ badPwdCount: 2, locked: false });
    expect(
      (await directory().authenticate({ username: upnPrefix, password: user.password })).username,
    ).toBe(user.username);
  });

  /** A context that counts passwordAccepted() calls. */
  function acceptedCounter() {
    const told = { accepted: 0 };
    const context: PasswordSignInContext = {
      guardAccount: () => Promise.resolve(),
      passwordAccepted: () => {
        told.accepted += 1;
      },
    };
    return { told, context };
  }

  test('a must-change refusal (773) comes only with the right password: it is not a guess, in either bind mode', async () => {
    const { told, context } = acceptedCounter();
    for (const auth of [directory(), directory(searchThenBind)]) {
      const error = await refusal(
        auth.authenticate(
          { username: mustChange.username, password: mustChange.password },
          context,
        ),
      );
      expect(error.details['reason']).toBe('password_must_change');
    }
    expect(told.accepted).toBe(2);
  });

  test('control: a wrong password for that account is 52e, and a guess', async () => {
    const { told, context } = acceptedCounter();
    const error = await refusal(
      directory().authenticate(
        { username: mustChange.username, password: 'Wrong-Passw0rd!' },
        context,
      ),
    );
    expect(error.details['reason']).toBe('invalid_credentials');
    expect(told.accepted).toBe(0);
  });
});
