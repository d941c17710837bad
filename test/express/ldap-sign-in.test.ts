// The sign-in routes with a real directory behind them: OpenLDAP's slapd on 127.0.0.1.
import { randomBytes } from 'node:crypto';
import { Client } from 'ldapts';
import {
  authenticate,
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  requireUser,
  sessionRoutes,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from '../../lib/ldap.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import {
  SLAPD_ADMIN,
  SLAPD_BASE_DN,
  SLAPD_PASSWORD_POLICY,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';

const { alice, bob, svcReporting, lockedUser, mustChange, expired } = SLAPD_USERS;
const MINUTE = 60 * 1000;

let slapd: Slapd;
beforeAll(async () => {
  slapd = await startSlapd();
}, 60_000);
afterAll(async () => {
  await closeServers();
  await slapd.stop();
});

function directoryOptions(overrides: Partial<LdapAuthenticatorOptions> = {}) {
  return {
    type: 'ldap',
    host: '127.0.0.1',
    port: Number(new URL(slapd.ldapsUrl).port),
    ca: slapd.ca,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
    mapping: { role_mapping: { 'ai-users': 'assistant_user' } },
    serviceAccounts: { ous: [`ou=Service Accounts,${SLAPD_BASE_DN}`] },
    ...overrides,
  } as LdapAuthenticatorOptions;
}

function assistant(
  express: (typeof EXPRESS_VERSIONS)[number][1],
  audit: MemoryAuditSink,
  options: {
    directory?: Partial<LdapAuthenticatorOptions>;
    throttle?: false | { maxFailuresPerAccount?: number };
    now?: () => number;
  } = {},
) {
  const sessions = createSessionTokens({
    issuer: 'https://assistant.example.test',
    signingKeys: [generateSigningKey()],
  });
  const app = express();
  app.use(
    '/auth',
    sessionRoutes({
      tokens: sessions,
      passwordSignIn: createLdapAuthenticator(directoryOptions(options.directory)),
      audit,
      ...(options.throttle === undefined ? {} : { throttle: options.throttle }),
      ...(options.now === undefined ? {} : { now: options.now }),
    }),
  );
  app.get(
    '/ai/whoami',
    authenticate({ issuers: [sessions.trustedIssuer()], audit }),
    requireUser({ roles: ['assistant_user'] }),
    (req, res) => {
      res.json({ user: req.identity?.username, provider: req.identity?.provider });
    },
  );
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(identityErrorHandler());
  return serve(app);
}

describe.each(EXPRESS_VERSIONS)('%s', (_name, express) => {
  test('a directory user signs in (JSON or form) and the session token works on AI routes', async () => {
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit);
    const json = await agent
      .post('/auth/session')
      .send({ username: 'alice', password: alice.password });
    expect(json.status).toBe(200);
    expect(json.headers['cache-control']).toBe('no-store');
    expect(json.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 86_400,
      user: { username: 'alice', provider: 'ldap', roles: ['assistant_user'] },
    });
    const form = await agent
      .post('/auth/session')
      .type('form')
      .send({ email: alice.mail, password: alice.password });
    expect(form.status).toBe(200);

    const whoami = await agent
      .get('/ai/whoami')
      .set('Authorization', `Bearer ${(json.body as { access_token: string }).access_token}`);
    expect(whoami.body).toEqual({ user: 'alice', provider: 'ldap' });
    const signIn = audit.events.find((event) => event.action === 'sign_in');
    expect(signIn).toMatchObject({ user: 'alice', outcome: 'allowed', provider: 'ldap' });
    expect(JSON.stringify(audit.events)).not.toContain(alice.password);
  });

  test('a wrong password, an unknown user and a locked account get the same 401; the audit knows why', async () => {
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit);
    const bodies: unknown[] = [];
    for (const [username, password] of [
      ['alice', 'Wrong-Password-1'],
      ['mallory', 'Wrong-Password-1'],
      [lockedUser.uid, lockedUser.password],
    ] as const) {
      const res = await agent.post('/auth/session').send({ username, password });
      expectRefusal(res, { status: 401, code: 'invalid_credentials', bearerError: null });
      bodies.push({ ...(res.body as object), request_id: null });
    }
    expect(new Set(bodies.map((body) => JSON.stringify(body))).size).toBe(1);
    expect(
      audit.events.map((event) => [
        event.outcome,
        event.details['reason'],
        event.details['username'],
      ]),
    ).toEqual([
      ['denied', 'invalid_credentials', 'alice'],
      ['denied', 'user_not_found', 'mallory'],
      ['denied', 'account_locked', lockedUser.uid],
    ]);
    expect(JSON.stringify(audit.events)).not.toMatch(/Wrong-Password-1|locked-Password-1/);
  });

  test('a service account signs in correctly and is still refused a session (403)', async () => {
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit);
    const res = await agent
      .post('/auth/session')
      .send({ username: svcReporting.uid, password: svcReporting.password });
    expectRefusal(res, { status: 403, code: 'service_account_refused' });
    expect(audit.events[0]).toMatchObject({ outcome: 'denied', reason: 'service_account_refused' });
  });

  test('hostile input is a 400 or 401 and never shows directory text', async () => {
    const agent = await assistant(express, createMemoryAuditSink());
    const attempts: [unknown, number][] = [
      [{ username: '*', password: alice.password }, 401],
      [{ username: '*)(uid=*))(|(uid=*', password: alice.password }, 401],
      [{ username: 'alice', password: '' }, 400],
      [{ username: 'alice' }, 400],
      [{ username: 'alice', password: ['x'] }, 400],
      [{ username: 'alice', password: { $gt: '' } }, 400],
      [{ username: 'a'.repeat(300), password: 'x-Password-1' }, 400],
      [{ username: 'alice\u0000', password: alice.password }, 400],
    ];
    for (const [body, status] of attempts) {
      const res = await agent.post('/auth/session').send(body as object);
      expect(res.status).toBe(status);
      expect(JSON.stringify(res.body)).not.toMatch(/ldap|LDAP|dc=|uid=|Error|errno|code: 0x/);
    }
  });

  test("a malformed body is a 400, and the parser's message (which quotes the body) is not audited", async () => {
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit);
    const res = await agent
      .post('/auth/session')
      .set('Content-Type', 'application/json')
      .send('{"username":"alice","password":hunter2secret}');
    expectRefusal(res, { status: 400, code: 'invalid_request', bearerError: 'invalid_request' });
    expect(audit.events[0]).toMatchObject({ outcome: 'denied', reason: 'invalid_request' });
    expect(JSON.stringify(audit.events)).not.toContain('hunter2');
  });

  test('the throttle answers 429 before the directory locks the account', async () => {
    const below = SLAPD_PASSWORD_POLICY.maxFailure - 2;
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit, {
      throttle: { maxFailuresPerAccount: below },
    });
    for (let attempt = 0; attempt < below; attempt++) {
      const res = await agent.post('/auth/session').send({ username: 'bob', password: 'Guess-1' });
      expect(res.status).toBe(401);
    }
    const blocked = await agent
      .post('/auth/session')
      .send({ username: 'bob', password: bob.password });
    expect({ status: blocked.status, code: (blocked.body as { code: string }).code }).toEqual({
      status: 429,
      code: 'too_many_attempts',
    });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // The directory saw only the guesses before the limit: bob is not locked there.
    expect(await failuresSettleAt(bob.dn, below)).toBe(below);
    const direct = await createLdapAuthenticator(directoryOptions()).authenticate({
      username: 'bob',
      password: bob.password,
    });
    expect(direct.username).toBe('bob');
  });

  describe.each([
    ['search, then bind', {}],
    [
      'DN template',
      {
        bindDn: undefined,
        bindPassword: undefined,
        userDnTemplate: `uid={username},ou=People,${SLAPD_BASE_DN}`,
        groupBaseDn: `ou=Groups,${SLAPD_BASE_DN}`,
      },
    ],
  ] as const)('password policy (%s)', (_mode, directory) => {
    test('must-change, expired and locked: the same 401 as a wrong password; the audit knows why', async () => {
      const audit = createMemoryAuditSink();
      const agent = await assistant(express, audit, { directory });
      const bodies = new Set<string>();
      for (const user of [alice, mustChange, expired, lockedUser]) {
        const password = user === alice ? 'Wrong-Password-1' : user.password;
        const res = await agent.post('/auth/session').send({ username: user.uid, password });
        expectRefusal(res, { status: 401, code: 'invalid_credentials', bearerError: null });
        bodies.add(JSON.stringify({ ...(res.body as object), request_id: null }));
      }
      expect(bodies.size).toBe(1);
      expect(audit.events.map((event) => [event.outcome, event.details['reason']])).toEqual([
        ['denied', 'invalid_credentials'],
        ['denied', 'password_must_change'],
        ['denied', 'password_expired'],
        ['denied', 'account_locked'],
      ]);
    });

    test('control: a user in good standing signs in', async () => {
      const agent = await assistant(express, createMemoryAuditSink(), { directory });
      const res = await agent
        .post('/auth/session')
        .send({ username: alice.uid, password: alice.password });
      expect(res.status).toBe(200);
    });
  });

  test('control: without the throttle, five wrong passwords lock the account at the directory', async () => {
    const user = await newPerson('unthrottled');
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit, { throttle: false });
    for (let attempt = 0; attempt < SLAPD_PASSWORD_POLICY.maxFailure; attempt++) {
      const res = await agent
        .post('/auth/session')
        .send({ username: user.uid, password: 'Guess-1' });
      expect(res.status).toBe(401);
    }
    expect(await lockedWithin(user.dn, 2_000)).toBe(true);
    const right = await agent
      .post('/auth/session')
      .send({ username: user.uid, password: user.password });
    expectRefusal(right, { status: 401, code: 'invalid_credentials', bearerError: null });
    expect(audit.events.at(-1)?.details['reason']).toBe('account_locked');
  });

  test('the default throttle never lets guesses lock an account at a directory threshold of 5', async () => {
    const user = await newPerson('throttled');
    let time = Date.now();
    const agent = await assistant(express, createMemoryAuditSink(), { now: () => time });
    const guess = () =>
      agent.post('/auth/session').send({ username: user.uid, password: 'Guess-1' });
    // Two guesses, then two 10 minutes later: 4 reach the directory.
    for (const wait of [0, 0, 10 * MINUTE, 0]) {
      time += wait;
      expect((await guess()).status).toBe(401);
    }
    // 20 minutes after the first guess but 10 after the last: still refused, before the
    // directory, right password or not.
    time += 10 * MINUTE;
    for (const password of ['Guess-1', user.password]) {
      const res = await agent.post('/auth/session').send({ username: user.uid, password });
      expectRefusal(res, { status: 429, code: 'too_many_attempts' });
    }
    expect(await lockedWithin(user.dn, 300)).toBe(false);
    expect(await failuresSettleAt(user.dn, SLAPD_PASSWORD_POLICY.maxFailure - 1)).toBe(
      SLAPD_PASSWORD_POLICY.maxFailure - 1,
    );
    // Quiet for 15 minutes: the right password works, and the directory's count is cleared.
    time += 15 * MINUTE;
    const right = await agent
      .post('/auth/session')
      .send({ username: user.uid, password: user.password });
    expect(right.status).toBe(200);
    expect(await failuresSettleAt(user.dn, 0)).toBe(0);
  });

  test('every login attribute names one account: guesses alternating uid and mail never lock it', async () => {
    // A mail address whose local part is not the uid: no folding of the text joins the two
    // names; only the search does.
    const suffix = randomBytes(4).toString('hex');
    const user = await newPerson('jsmith', { mail: `john.smith.${suffix}@example.com` });
    let time = Date.now();
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit, { now: () => time });
    const names = [user.uid, user.mail];
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 2 * SLAPD_PASSWORD_POLICY.maxFailure; attempt++) {
      const username = names[attempt % 2] as string;
      const res = await agent.post('/auth/session').send({ username, password: 'Guess-1' });
      statuses.push(res.status);
    }
    // The default allowance (4) for the account, whichever name; then 429 before any bind.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    expect(audit.events.at(-1)).toMatchObject({
      reason: 'too_many_attempts',
      details: { scope: 'account' },
    });
    expect(await lockedWithin(user.dn, 300)).toBe(false);
    expect(await failuresSettleAt(user.dn, SLAPD_PASSWORD_POLICY.maxFailure - 1)).toBe(
      SLAPD_PASSWORD_POLICY.maxFailure - 1,
    );
    // The right password under either name waits for the quiet window too...
    for (const username of names) {
      const res = await agent.post('/auth/session').send({ username, password: user.password });
      expectRefusal(res, { status: 429, code: 'too_many_attempts' });
    }
    // ...and then works: the account was never locked.
    time += 15 * MINUTE;
    const right = await agent
      .post('/auth/session')
      .send({ username: user.mail, password: user.password });
    expect(right.status).toBe(200);
    expect(await failuresSettleAt(user.dn, 0)).toBe(0);
  });

  test('control: the 8 guesses that 4 per name would let through lock the account at the directory', async () => {
    const suffix = randomBytes(4).toString('hex');
    const user = await newPerson('jsmith', { mail: `john.smith.${suffix}@example.com` });
    // Unthrottled, to show what counting by name alone (4 for each of two names) let reach slapd.
    const agent = await assistant(express, createMemoryAuditSink(), { throttle: false });
    for (let attempt = 0; attempt < 2 * (SLAPD_PASSWORD_POLICY.maxFailure - 1); attempt++) {
      const username = [user.uid, user.mail][attempt % 2] as string;
      expect(
        (await agent.post('/auth/session').send({ username, password: 'Guess-1' })).status,
      ).toBe(401);
    }
    expect(await lockedWithin(user.dn, 2_000)).toBe(true);
  });

  test('a password that must be changed, typed right again and again, is refused (401) but never throttled', async () => {
    const user = await newPerson('reset', { attributes: { pwdReset: 'TRUE' } });
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit, { now: () => Date.now() });
    for (let attempt = 0; attempt < SLAPD_PASSWORD_POLICY.maxFailure + 1; attempt++) {
      const res = await agent
        .post('/auth/session')
        .send({ username: user.uid, password: user.password });
      expectRefusal(res, { status: 401, code: 'invalid_credentials', bearerError: null });
    }
    expect(audit.events.map((event) => event.details['reason'])).toEqual(
      Array(SLAPD_PASSWORD_POLICY.maxFailure + 1).fill('password_must_change'),
    );
    // Nor does the directory count them; wrong guesses still do, on both sides.
    expect(await failuresSettleAt(user.dn, 0)).toBe(0);
    for (let attempt = 0; attempt < SLAPD_PASSWORD_POLICY.maxFailure - 1; attempt++) {
      const res = await agent
        .post('/auth/session')
        .send({ username: user.mail, password: 'Guess-1' });
      expect(res.status).toBe(401);
    }
    const blocked = await agent
      .post('/auth/session')
      .send({ username: user.uid, password: user.password });
    expectRefusal(blocked, { status: 429, code: 'too_many_attempts' });
    expect(await lockedWithin(user.dn, 300)).toBe(false);
  });

  test('directory down: 503 with a generic message, and the process keeps serving', async () => {
    const audit = createMemoryAuditSink();
    const agent = await assistant(express, audit, { directory: { port: 1 } });
    const res = await agent
      .post('/auth/session')
      .send({ username: 'alice', password: alice.password });
    expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
    expect((res.body as { message: string }).message).toBe(
      'The identity provider is unavailable; retry shortly.',
    );
    expect(audit.events[0]).toMatchObject({ outcome: 'error', status: 503 });
    expect(audit.events[0]?.details['directory_error']).toBe('ECONNREFUSED');
    expect((await agent.get('/health')).body).toEqual({ ok: true });
  });
});

/**
 * A new person under ou=People, for tests that change their state at the directory. `mail`
 * defaults to `<uid>@example.com`; `attributes` adds policy state (`pwdReset`).
 */
async function newPerson(
  prefix: string,
  options: { mail?: string; attributes?: Record<string, string> } = {},
): Promise<{ uid: string; dn: string; password: string; mail: string }> {
  const uid = `${prefix}-${randomBytes(4).toString('hex')}`;
  const mail = options.mail ?? `${uid}@example.com`;
  const person = {
    uid,
    dn: `uid=${uid},ou=People,${SLAPD_BASE_DN}`,
    password: `${uid}-Pw-1`,
    mail,
  };
  const client = new Client({ url: slapd.url, timeout: 5_000 });
  try {
    await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
    await client.add(person.dn, {
      objectClass: 'inetOrgPerson',
      ...{ uid, cn: uid, sn: uid, mail },
      userPassword: person.password,
      ...options.attributes,
    });
  } finally {
    await client.unbind();
  }
  return person;
}

/**
 * Whether ppolicy has locked the entry, waiting (bounded) for it: slapd answers a failed bind
 * before ppolicy records the failure.
 */
async function lockedWithin(dn: string, ms: number): Promise<boolean> {
  const client = new Client({ url: slapd.url, timeout: 5_000 });
  try {
    await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
    const deadline = Date.now() + ms;
    for (let attempt = 0; attempt < 200; attempt++) {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        attributes: ['pwdAccountLockedTime'],
      });
      if ((searchEntries[0]?.['pwdAccountLockedTime'] ?? []).length > 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return false;
  } finally {
    await client.unbind();
  }
}

/**
 * ppolicy's failure count for an entry once it reaches `expected`, or its last value after 2 s:
 * slapd answers a bind before ppolicy records its outcome, so the count is awaited (bounded).
 */
async function failuresSettleAt(dn: string, expected: number): Promise<number> {
  let failures = await failureCount(dn);
  for (let attempt = 0; attempt < 40 && failures !== expected; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    failures = await failureCount(dn);
  }
  return failures;
}

/** ppolicy's record of failed binds for an entry, read as the directory administrator. */
async function failureCount(dn: string): Promise<number> {
  const client = new Client({ url: slapd.url });
  try {
    await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      attributes: ['pwdFailureTime'],
    });
    const times = searchEntries[0]?.['pwdFailureTime'];
    return Array.isArray(times) ? times.length : times === undefined || times === '' ? 0 : 1;
  } finally {
    await client.unbind();
  }
}
