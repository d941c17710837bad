// A real OpenLDAP slapd per test suite: its own temp directory, ports, certificates and data, so
// LDAP tests exercise a genuine server (TLS, ACLs, memberof, ppolicy) rather than a mock.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Control } from 'ldapts';

export interface Slapd {
  url: string;
  ldapsUrl: string;
  ca: string;
  wrongCa: string;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  /** The rootdn, for tests that change data (lock an account, move a user between groups). */
  adminDn: string;
  adminPassword: string;
  stop(): Promise<void>;
  /** SIGSTOP: TCP connects still complete (kernel backlog) but no LDAP operation is answered. */
  hang(): void;
  resume(): void;
}

export const SLAPD_BASE_DN = 'dc=example,dc=com';
const PEOPLE = `ou=People,${SLAPD_BASE_DN}`;
const GROUPS = `ou=Groups,${SLAPD_BASE_DN}`;
const SERVICES = `ou=Service Accounts,${SLAPD_BASE_DN}`;
const POLICIES = `ou=Policies,${SLAPD_BASE_DN}`;

export const SLAPD_READER = { dn: `cn=reader,${SLAPD_BASE_DN}`, password: 'reader-Password-1' };
export const SLAPD_ADMIN = { dn: `cn=admin,${SLAPD_BASE_DN}`, password: 'admin-Password-1' };

/**
 * Applies to every entry: several wrong passwords within the interval lock the account; a
 * password an administrator reset must be changed before use; passwords expire after
 * `maxAgeSeconds`, with a warning in the last `expireWarningSeconds`, and no grace logins.
 */
export const SLAPD_PASSWORD_POLICY = {
  dn: `cn=default,${POLICIES}`,
  maxFailure: 5,
  lockoutSeconds: 300,
  maxAgeSeconds: 90 * 86_400,
  expireWarningSeconds: 7 * 86_400,
};

/** The default policy, but an expired password still binds this many times (graceUser's). */
export const SLAPD_GRACE_POLICY = { dn: `cn=grace,${POLICIES}`, graceLogins: 100 };

function person(uid: string, ou: string, cn: string, pw: string, mail = `${uid}@example.com`) {
  return { uid, dn: `uid=${uid},${ou}`, cn, sn: cn.split(' ').at(-1)!, mail, password: pw };
}

export const SLAPD_USERS = {
  alice: person('alice', PEOPLE, 'Alice Archer', 'alice-Password-1'),
  bob: person('bob', PEOPLE, 'Bob Baker', 'bob-Password-1'),
  svcReporting: person('svc-reporting', SERVICES, 'Reporting Service', 'svc-Password-1'),
  /** Administratively locked (pwdAccountLockedTime 000001010000Z): the right password fails. */
  lockedUser: person('locked-user', PEOPLE, 'Locked User', 'locked-Password-1'),
  /** pwdReset TRUE: the right password binds, with the policy error changeAfterReset. */
  mustChange: person('must-change', PEOPLE, 'Must Change', 'must-change-Password-1'),
  /** Password changed longer ago than pwdMaxAge, no grace: the right password fails (expired). */
  expired: person('expired-user', PEOPLE, 'Expired User', 'expired-Password-1'),
  /** Expired too, but under the grace policy: binds, with graceAuthNsRemaining. */
  graceUser: person('grace-user', PEOPLE, 'Grace User', 'grace-Password-1'),
  /** Password expires within pwdExpireWarning: binds, with timeBeforeExpiration. */
  expiringSoon: person('expiring-soon', PEOPLE, 'Expiring Soon', 'expiring-Password-1'),
  zoe: person('zoë', PEOPLE, 'Zoë Ünïcode', 'zoë-Password-1', 'zoe@example.com'),
  /** dup1 and dup2 share a mail address: a sign-in by mail matches two entries. */
  dup1: person('dup1', PEOPLE, 'Duplicate One', 'dup1-Password-1', 'shared@example.com'),
  dup2: person('dup2', PEOPLE, 'Duplicate Two', 'dup2-Password-1', 'shared@example.com'),
} as const;

const group = (cn: string, members: string[]) => ({ cn, dn: `cn=${cn},${GROUPS}`, members });
const aiUsers = group('ai-users', [SLAPD_USERS.alice.dn, SLAPD_USERS.svcReporting.dn]);
const dataReaders = group('data-readers', [aiUsers.dn]);

/**
 * groupOfNames with member DNs; nesting is all-staff ⊃ data-readers ⊃ ai-users ⊃ alice. memberOf
 * is direct only: alice's shows ai-users, ai-users' entry shows data-readers.
 */
export const SLAPD_GROUPS = {
  aiUsers,
  dataReaders,
  allStaff: group('all-staff', [dataReaders.dn]),
  finance: group('finance', [SLAPD_USERS.bob.dn]),
} as const;

const firstExisting = (paths: string[]) => paths.find((path) => existsSync(path)) ?? paths[0]!;
const SLAPD_BIN = firstExisting(['/usr/sbin/slapd', '/usr/local/sbin/slapd']);
const MODULES = firstExisting(['/usr/lib/ldap', '/usr/lib64/openldap', '/usr/lib/openldap']);
const SCHEMAS = firstExisting(['/etc/ldap/schema', '/etc/openldap/schema']);

const run = promisify(execFile);

// LDAP Relax Rules (draft-zeilenga-ldap-relax): lets the rootdn write operational attributes.
const RELAX_OID = '1.3.6.1.4.1.4203.666.5.12';

/** `20240131120000Z`, as LDAP's GeneralizedTime syntax wants it. */
function generalizedTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]|\.\d+/g, '');
}

/** {SSHA} as slappasswd makes it, so binds go through slapd's hash check like production. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password, 'utf8').update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

async function makeCertificates(dir: string): Promise<void> {
  // Arguments never contain spaces, so one string per command reads like the shell line.
  const openssl = (args: string) => run('openssl', args.split(' '), { cwd: dir });
  const newKey = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
  const ca = (name: string) =>
    openssl(
      `req -x509 ${newKey} -days 2 -subj /CN=${name} -keyout ${name}.key -out ${name}.pem ` +
        '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
    );
  const extensions =
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n' +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n';
  await Promise.all([
    ca('ca'),
    ca('wrong-ca'),
    openssl(`req ${newKey} -subj /CN=localhost -keyout server.key -out server.csr`),
    writeFile(join(dir, 'server.ext'), extensions),
  ]);
  await openssl(
    'x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 ' +
      '-extfile server.ext -out server.pem',
  );
}

function config(dir: string): string {
  return `${['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include ${SCHEMAS}/${s}.schema`).join('\n')}
modulepath ${MODULES}
moduleload back_mdb
moduleload memberof
# ppolicy's schema (pwdPolicy, pwdReset, ...) is built into the module since OpenLDAP 2.5.
moduleload ppolicy
moduleload refint
TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${dir}/server.pem
TLSCertificateKeyFile ${dir}/server.key

database mdb
suffix "${SLAPD_BASE_DN}"
rootdn "${SLAPD_ADMIN.dn}"
rootpw ${SLAPD_ADMIN.password}
directory ${dir}/data

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-refint TRUE
overlay refint
refint_attributes member
overlay ppolicy
ppolicy_default "${SLAPD_PASSWORD_POLICY.dn}"
# Without it, a bind to a locked account gets a policy response with no error, and only a
# search account reading pwdAccountLockedTime can tell why it failed.
ppolicy_use_lockout

access to attrs=userPassword
  by anonymous auth
  by * none
access to dn.subtree="${GROUPS}"
  by users read
  by * none
access to *
  by dn.exact="${SLAPD_READER.dn}" read
  by self read
  by * none
`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * SIGSTOP takes effect per thread, asynchronously: a slapd thread can still answer a request that
 * arrives just after kill(). Waiting (synchronously, hang() is void) until every thread shows T
 * makes hang() mean "nothing is answered from now on".
 */
function untilStopped(pid: number): void {
  const state = (task: string) => {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  };
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 2000; waited++) {
    if (readdirSync(`/proc/${pid}/task`).every((task) => state(task) === 'T')) return;
    Atomics.wait(tick, 0, 0, 1);
  }
  throw new Error('slapd did not stop within 2 s of SIGSTOP');
}

async function load(client: Client): Promise<void> {
  const ou = (dn: string) => ({ objectClass: 'organizationalUnit', ou: dn.split(/[=,]/)[1]! });
  await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
  await client.add(SLAPD_BASE_DN, {
    objectClass: ['dcObject', 'organization'],
    dc: 'example',
    o: 'Example',
  });
  for (const dn of [PEOPLE, GROUPS, SERVICES, POLICIES]) await client.add(dn, ou(dn));
  const policy = {
    objectClass: ['device', 'pwdPolicy'],
    pwdAttribute: 'userPassword',
    pwdLockout: 'TRUE',
    pwdMaxFailure: String(SLAPD_PASSWORD_POLICY.maxFailure),
    pwdLockoutDuration: String(SLAPD_PASSWORD_POLICY.lockoutSeconds),
    pwdFailureCountInterval: String(SLAPD_PASSWORD_POLICY.lockoutSeconds),
    pwdMustChange: 'TRUE',
    pwdMaxAge: String(SLAPD_PASSWORD_POLICY.maxAgeSeconds),
    pwdExpireWarning: String(SLAPD_PASSWORD_POLICY.expireWarningSeconds),
    pwdGraceAuthNLimit: '0',
  };
  await client.add(SLAPD_PASSWORD_POLICY.dn, policy);
  await client.add(SLAPD_GRACE_POLICY.dn, {
    ...policy,
    pwdGraceAuthNLimit: String(SLAPD_GRACE_POLICY.graceLogins),
  });
  await client.add(SLAPD_READER.dn, {
    objectClass: ['organizationalRole', 'simpleSecurityObject'],
    userPassword: ssha(SLAPD_READER.password),
  });
  const { lockedUser, mustChange, expired, graceUser, expiringSoon } = SLAPD_USERS;
  const daysAgo = (days: number) => generalizedTime(Date.now() - days * 86_400_000);
  const maxAgeDays = SLAPD_PASSWORD_POLICY.maxAgeSeconds / 86_400;
  const policyState = new Map<string, Record<string, string>>([
    [lockedUser.dn, { pwdAccountLockedTime: '000001010000Z' }],
    [mustChange.dn, { pwdReset: 'TRUE' }],
    [expired.dn, { pwdChangedTime: daysAgo(maxAgeDays + 10) }],
    [
      graceUser.dn,
      { pwdChangedTime: daysAgo(maxAgeDays + 10), pwdPolicySubentry: SLAPD_GRACE_POLICY.dn },
    ],
    [expiringSoon.dn, { pwdChangedTime: daysAgo(maxAgeDays - 1) }],
  ]);
  for (const user of Object.values(SLAPD_USERS)) {
    const state = policyState.get(user.dn);
    await client.add(
      user.dn,
      {
        objectClass: 'inetOrgPerson',
        ...{ uid: user.uid, cn: user.cn, sn: user.sn, mail: user.mail, displayName: user.cn },
        userPassword: ssha(user.password),
        ...state,
      },
      // pwdChangedTime is NO-USER-MODIFICATION: only the Relax control lets the rootdn set it.
      state?.['pwdChangedTime'] === undefined
        ? undefined
        : new Control(RELAX_OID, { critical: true }),
    );
  }
  // In order: memberof writes memberOf only into member entries that already exist.
  for (const { dn, cn, members } of Object.values(SLAPD_GROUPS)) {
    await client.add(dn, { objectClass: 'groupOfNames', cn, member: members });
  }
}

async function attempt(dir: string): Promise<Slapd> {
  const [port, tlsPort] = [await freePort(), await freePort()];
  if (port === tlsPort) throw new Error('Address already in use (same port twice)');
  const url = `ldap://127.0.0.1:${port}`;
  const args = ['-f', join(dir, 'slapd.conf'), '-h', `${url}/ ldaps://127.0.0.1:${tlsPort}/`];
  // -d none: foreground, errors (only) on stderr. setpriv: slapd dies with us even on SIGKILL;
  // a process.on('exit') hook would not do, Jest's sandboxed process object never fires it.
  const slapdArgv = [SLAPD_BIN, ...args, '-d', 'none'];
  const [command, ...argv] = existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', ...slapdArgv]
    : slapdArgv;
  // stderr to a file rather than a pipe: nothing of slapd's keeps the test process alive.
  const log = openSync(join(dir, 'slapd.log'), 'w');
  const child = spawn(command!, argv, { stdio: ['ignore', 'ignore', log] });
  closeSync(log);
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    child.ref(); // unref'd, its exit would not keep a plain script alive long enough to see it
    if (alive()) child.kill('SIGKILL');
    await exited;
  };
  const admin = new Client({ url, timeout: 5000 });
  try {
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (!alive()) throw new Error(`slapd exited (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error('slapd did not accept connections within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Whoever answered may not be our slapd (port taken meanwhile): its exit wins the race.
    const died = exited.then(() => {
      throw new Error(`slapd exited (${child.exitCode ?? child.signalCode})`);
    });
    died.catch(() => undefined); // its later rejection, at stop(), is nobody's business
    await Promise.race([load(admin), died]);
  } catch (error) {
    await kill();
    const stderr = await readFile(join(dir, 'slapd.log'), 'utf8');
    throw new Error(`${(error as Error).message}\n--- slapd stderr ---\n${stderr}`, {
      cause: error,
    });
  } finally {
    await admin.unbind().catch(() => undefined);
  }
  const [ca, wrongCa] = await Promise.all(
    ['ca.pem', 'wrong-ca.pem'].map((file) => readFile(join(dir, file), 'utf8')),
  );
  return {
    url,
    ldapsUrl: `ldaps://127.0.0.1:${tlsPort}`,
    ca: ca!,
    wrongCa: wrongCa!,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
    adminDn: SLAPD_ADMIN.dn,
    adminPassword: SLAPD_ADMIN.password,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    hang() {
      child.kill('SIGSTOP');
      untilStopped(child.pid!);
    },
    resume: () => void child.kill('SIGCONT'),
  };
}

export async function startSlapd(): Promise<Slapd> {
  if (!existsSync(SLAPD_BIN)) throw new Error('No slapd: run `node scripts/ensure-slapd.mjs`');
  const dir = await mkdtemp(join(tmpdir(), 'slapd-'));
  try {
    await makeCertificates(dir);
    await writeFile(join(dir, 'slapd.conf'), config(dir));
    for (let tries = 1; ; tries++) {
      await rm(join(dir, 'data'), { recursive: true, force: true });
      await mkdir(join(dir, 'data'));
      try {
        return await attempt(dir);
      } catch (error) {
        // Another process may take a port between our probe and slapd's bind.
        if (tries >= 5 || !String(error).includes('Address already in use')) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
