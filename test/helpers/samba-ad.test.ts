// Tests of AD-specific LDAP handling trust this fixture; these prove the DC behaves like Active
// Directory where it matters to them (bind sub-codes, in-chain search, UPN binds, TLS) and pin
// the exact error shapes ldapts produces from it.
import {
  Attribute,
  Change,
  Client,
  InvalidCredentialsError,
  OperationsError,
  StrongAuthRequiredError,
} from 'ldapts';
import {
  SAMBA_AD_GROUPS,
  SAMBA_AD_LOCKOUT_THRESHOLD,
  SAMBA_AD_USERS,
  sambaAdSkipReason,
  startSambaAd,
  type SambaAd,
} from './samba-ad.js';

// The first run on a machine may install Samba (minutes) and provisions a template (~10 s).
const START_TIMEOUT_MS = 600_000;

const clients: Client[] = [];

function client(url: string, options: Partial<ConstructorParameters<typeof Client>[0]> = {}) {
  const created = new Client({ url, timeout: 5000, connectTimeout: 5000, ...options });
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.unbind().catch(() => undefined)));
});

/** What AD (and Samba) put in the diagnostic message of a failed simple bind; ldapts appends the
 * result code. */
const adBindError = (subCode: string) =>
  `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${subCode}, ` +
  'v1db1 Code: 0x31';

const { alice, bob, disabled, expired, mustChange, locked, svcReporting } = SAMBA_AD_USERS;

describe('Samba AD DC', () => {
  let ad: SambaAd | undefined;

  beforeAll(async () => {
    ad = await startSambaAd();
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await ad?.stop();
  });

  // No DC (not root, port 389 taken, install failed) fails every test with the reason, rather
  // than letting them pass with nothing checked.
  const dc = (): SambaAd => {
    if (ad === undefined) {
      throw new Error(`No Samba AD DC: ${sambaAdSkipReason() ?? 'see the warning above'}`);
    }
    return ad;
  };

  test.each([
    ['UPN', alice.upn],
    ['DOMAIN\\user', `EXAMPLE\\${alice.username}`],
    ['DN', alice.dn],
  ])('alice binds by %s', async (_form, name) => {
    const ad = dc();
    await client(ad.url).bind(name, alice.password);
  });

  test('bob and the service account in its own OU bind', async () => {
    const ad = dc();
    await client(ad.url).bind(bob.upn, bob.password);
    await client(ad.url).bind(svcReporting.upn, svcReporting.password);
  });

  // Samba's answers; Windows AD differs where noted.
  test.each([
    { case: 'a wrong password', name: alice.upn, password: 'Wrong-Passw0rd!', subCode: '52e' },
    // Windows AD answers 525 (no such user) here.
    { case: 'an unknown user', name: 'nobody@example.test', password: 'x', subCode: '52e' },
    { case: 'a disabled account', name: disabled.upn, password: disabled.password, subCode: '533' },
    { case: 'an expired account', name: expired.upn, password: expired.password, subCode: '701' },
    {
      case: 'a password that must change',
      name: mustChange.upn,
      password: mustChange.password,
      subCode: '773',
    },
    { case: 'a locked account', name: locked.upn, password: locked.password, subCode: '775' },
    // The password is checked first: the account state is only told to whoever knows it...
    {
      case: 'a disabled account with a wrong password',
      name: disabled.upn,
      password: 'x',
      subCode: '52e',
    },
    // ...except lockout, which answers 775 whatever the password.
    {
      case: 'a locked account with a wrong password',
      name: locked.upn,
      password: 'x',
      subCode: '775',
    },
    // Windows AD by default takes a name with an empty password as an unauthenticated
    // (anonymous) bind and answers success; Samba refuses it.
    { case: 'an empty password', name: alice.upn, password: '', subCode: '52e' },
  ])('$case: InvalidCredentialsError, data $subCode', async ({ name, password, subCode }) => {
    const ad = dc();
    const error: unknown = await client(ad.url)
      .bind(name, password)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(InvalidCredentialsError);
    expect(error).toMatchObject({ code: 49, message: adBindError(subCode) });
  });

  test('the in-chain rule finds all of alice’s nested groups; memberOf only the direct one', async () => {
    const ad = dc();
    const c = client(ad.url);
    await c.bind(alice.upn, alice.password);
    const chain = await c.search(ad.baseDn, {
      filter: `(member:1.2.840.113556.1.4.1941:=${alice.dn})`,
      attributes: ['cn'],
    });
    const { aiUsers, dataReaders, allStaff } = SAMBA_AD_GROUPS;
    expect(chain.searchEntries.map((entry) => entry.dn).sort()).toEqual(
      [aiUsers.dn, allStaff.dn, dataReaders.dn].sort(),
    );
    // A subtree search from the domain root also returns a referral to the Configuration
    // partition, which ldapts reports rather than follows.
    expect(chain.searchReferences).toEqual([`ldap://example.test/CN=Configuration,${ad.baseDn}`]);
    const self = await c.search(alice.dn, { scope: 'base', attributes: ['memberOf'] });
    expect(self.searchEntries[0]?.memberOf).toBe(aiUsers.dn);
  });

  test('an anonymous search is refused', async () => {
    const ad = dc();
    const search = client(ad.url).search(ad.baseDn, { filter: '(cn=*)', sizeLimit: 1 });
    await expect(search).rejects.toBeInstanceOf(OperationsError);
    await expect(search).rejects.toMatchObject({
      code: 1,
      message: '00002020: Operation unavailable without authentication Code: 0x1',
    });
  });

  test('ldaps:// and StartTLS verify against the fixture CA', async () => {
    const ad = dc();
    await client(ad.ldapsUrl, { tlsOptions: { ca: ad.ca } }).bind(alice.upn, alice.password);
    const c = client(ad.url);
    await c.startTLS({ ca: ad.ca });
    await c.bind(alice.upn, alice.password);
    await expect(client(ad.ldapsUrl).bind(alice.upn, alice.password)).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test(`${SAMBA_AD_LOCKOUT_THRESHOLD} wrong passwords lock an account until an admin unlocks it`, async () => {
    const ad = dc();
    for (let i = 0; i < SAMBA_AD_LOCKOUT_THRESHOLD; i++) {
      await expect(client(ad.url).bind(bob.upn, 'Wrong-Passw0rd!')).rejects.toMatchObject({
        message: adBindError('52e'),
      });
    }
    await expect(client(ad.url).bind(bob.upn, bob.password)).rejects.toMatchObject({
      message: adBindError('775'),
    });
    const admin = client(ad.url);
    await admin.bind(ad.adminDn, ad.adminPassword);
    // Administrators may write lockoutTime, but only 0.
    await admin.modify(
      bob.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'lockoutTime', values: ['0'] }),
      }),
    );
    await client(ad.url).bind(bob.upn, bob.password);
  });
});

describe('Samba AD DC with its default "ldap server require strong auth = yes"', () => {
  let ad: SambaAd;

  beforeAll(async () => {
    const started = await startSambaAd({ requireStrongAuth: true });
    if (started === undefined) {
      throw new Error(`No Samba AD DC: ${sambaAdSkipReason() ?? 'see the warning above'}`);
    }
    ad = started;
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await ad.stop();
  });

  test('a simple bind on ldap:// is refused before the password is checked', async () => {
    for (const password of [alice.password, 'Wrong-Passw0rd!']) {
      const bind = client(ad.url).bind(alice.upn, password);
      await expect(bind).rejects.toBeInstanceOf(StrongAuthRequiredError);
      await expect(bind).rejects.toMatchObject({
        code: 8,
        message: 'BindSimple: Transport encryption required. Code: 0x8',
      });
    }
  });

  test('after StartTLS, and on ldaps://, the same bind works', async () => {
    const c = client(ad.url);
    await c.startTLS({ ca: ad.ca });
    await c.bind(alice.upn, alice.password);
    await client(ad.ldapsUrl, { tlsOptions: { ca: ad.ca } }).bind(alice.upn, alice.password);
  });
});
