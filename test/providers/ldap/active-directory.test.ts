// Active Directory behaviour against a real domain controller: Samba's AD DC, provisioned into a
// temp directory and listening on 127.0.0.1 (scripts/ad/samba-ad.sh).
import express from 'express';
import { Client } from 'ldapts';
import { closeServers, serve } from '../../helpers/http.js';
import { refusal } from '../../helpers/refusal.js';
import {
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  sessionRoutes,
} from '../../../lib/index.js';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from '../../../lib/ldap.js';
import {
  SAMBA_AD_ADMIN,
  SAMBA_AD_BASE_DN,
  SAMBA_AD_GROUPS,
  SAMBA_AD_USERS,
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
