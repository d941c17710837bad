// The LDAP provider's tests trust this fixture; these prove it behaves like the directory they
// assume (TLS with the right CA only, memberOf, ppolicy lock, ACLs) before anything relies on it.
import { Client, InvalidCredentialsError, NoSuchObjectError, type ClientOptions } from 'ldapts';
import {
  SLAPD_GROUPS,
  SLAPD_PASSWORD_POLICY,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from './slapd.js';

let slapd: Slapd;
const clients: Client[] = [];

function client(url: string, options: Partial<ClientOptions> = {}) {
  const created = new Client({ url, timeout: 3000, connectTimeout: 3000, ...options });
  clients.push(created);
  return created;
}

beforeAll(async () => {
  slapd = await startSlapd();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.unbind().catch(() => undefined)));
});

afterAll(async () => {
  await slapd.stop();
});

const { alice, lockedUser, zoe } = SLAPD_USERS;

test('alice binds over ldap://', async () => {
  await client(slapd.url).bind(alice.dn, alice.password);
});

test('a wrong password is invalidCredentials', async () => {
  await expect(client(slapd.url).bind(alice.dn, 'nope')).rejects.toBeInstanceOf(
    InvalidCredentialsError,
  );
});

test('ldaps:// verifies against the fixture CA', async () => {
  await client(slapd.ldapsUrl, { tlsOptions: { ca: slapd.ca } }).bind(alice.dn, alice.password);
});

test('ldaps:// with an unrelated CA fails certificate verification', async () => {
  const bind = client(slapd.ldapsUrl, { tlsOptions: { ca: slapd.wrongCa } }).bind(
    alice.dn,
    alice.password,
  );
  // slapd (GnuTLS) sends the CA along with its certificate, hence "self-signed in chain".
  await expect(bind).rejects.toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
});

test('StartTLS on the ldap:// port works with the CA', async () => {
  const c = client(slapd.url);
  await c.startTLS({ ca: slapd.ca });
  await c.bind(alice.dn, alice.password);
});

test('alice has memberOf ai-users (operational: only when asked for)', async () => {
  const c = client(slapd.url);
  await c.bind(alice.dn, alice.password);
  const { searchEntries } = await c.search(alice.dn, { scope: 'base', attributes: ['memberOf'] });
  expect(searchEntries[0]?.memberOf).toBe(SLAPD_GROUPS.aiUsers.dn);
  const plain = await c.search(alice.dn, { scope: 'base' });
  expect(plain.searchEntries[0]).not.toHaveProperty('memberOf');
});

test('nested groups carry memberOf of their parent, one level each', async () => {
  const { aiUsers, dataReaders, allStaff } = SLAPD_GROUPS;
  const c = client(slapd.url);
  await c.bind(slapd.bindDn, slapd.bindPassword);
  for (const [child, parent] of [
    [aiUsers, dataReaders],
    [dataReaders, allStaff],
  ] as const) {
    const { searchEntries } = await c.search(child.dn, { scope: 'base', attributes: ['memberOf'] });
    expect(searchEntries[0]?.memberOf).toBe(parent.dn);
  }
});

test('the locked account cannot bind with its right password', async () => {
  await expect(client(slapd.url).bind(lockedUser.dn, lockedUser.password)).rejects.toBeInstanceOf(
    InvalidCredentialsError,
  );
});

test('the unicode user binds', async () => {
  await client(slapd.url).bind(zoe.dn, zoe.password);
});

test('reader finds alice by mail but never sees userPassword', async () => {
  const c = client(slapd.url);
  await c.bind(slapd.bindDn, slapd.bindPassword);
  const { searchEntries } = await c.search(slapd.baseDn, {
    filter: `(mail=${alice.mail})`,
    attributes: ['*', 'memberOf', 'userPassword'],
  });
  expect(searchEntries.map((entry) => entry.dn)).toEqual([alice.dn]);
  expect(searchEntries[0]).toMatchObject({ uid: alice.uid, memberOf: SLAPD_GROUPS.aiUsers.dn });
  // ldapts lists requested-but-withheld attributes as [], so "no value" is the check.
  expect(searchEntries[0]?.userPassword).toEqual([]);
  const shared = await c.search(slapd.baseDn, { filter: `(mail=${SLAPD_USERS.dup1.mail})` });
  expect(shared.searchEntries).toHaveLength(2);
});

test('anonymous cannot search: the base is hidden, so noSuchObject', async () => {
  await expect(
    client(slapd.url).search(slapd.baseDn, { filter: `(uid=${alice.uid})` }),
  ).rejects.toBeInstanceOf(NoSuchObjectError);
});

test('wrong passwords lock the account (ppolicy)', async () => {
  const { dup2 } = SLAPD_USERS;
  for (let i = 0; i < SLAPD_PASSWORD_POLICY.maxFailure; i++) {
    await expect(client(slapd.url).bind(dup2.dn, 'wrong')).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    );
  }
  // slapd answers the failed bind before ppolicy has recorded it, so the lock is awaited
  // (bounded) rather than assumed to be there the instant the last bind returns.
  const admin = client(slapd.url);
  await admin.bind(slapd.adminDn, slapd.adminPassword);
  let locked = false;
  for (let attempt = 0; attempt < 40 && !locked; attempt++) {
    const { searchEntries } = await admin.search(dup2.dn, {
      scope: 'base',
      attributes: ['pwdAccountLockedTime'],
    });
    locked = (searchEntries[0]?.['pwdAccountLockedTime'] ?? []).length > 0;
    if (!locked) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(locked).toBe(true);
  await expect(client(slapd.url).bind(dup2.dn, dup2.password)).rejects.toBeInstanceOf(
    InvalidCredentialsError,
  );
});

test('hang() stalls operations and resume() answers them', async () => {
  slapd.hang();
  try {
    const stalled = client(slapd.url, { timeout: 300 }).bind(alice.dn, alice.password);
    await expect(stalled).rejects.toThrow(/timed out/);
  } finally {
    slapd.resume();
  }
  await client(slapd.url).bind(alice.dn, alice.password);
});
