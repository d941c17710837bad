// A real Active Directory domain controller (Samba 4) on 127.0.0.1, for the AD behaviour no
// generic LDAP server has: "data 52e/533/701/773/775" in bind errors, the in-chain matching rule
// over nested groups, UPN binds, referrals in subtree searches. scripts/ad/samba-ad.sh does the
// Samba work; this file caches its result, runs one DC per call and cleans up.
//
// Samba's LDAP port cannot be changed (always 389, plus 636, 3268 and 3269), so only one DC runs
// per machine: a lock file makes concurrent Jest workers take turns, and startSambaAd() resolves
// undefined, with the reason logged, where no DC can run at all (not Linux, not root, no Samba
// and no apt-get, ports taken by something else).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attribute, Client } from 'ldapts';

export interface SambaAdUser {
  /** sAMAccountName, as in `EXAMPLE\alice`. */
  username: string;
  /** userPrincipalName: AD accepts it as the simple bind name. */
  upn: string;
  dn: string;
  password: string;
}

export interface SambaAd {
  url: 'ldap://127.0.0.1:389';
  ldapsUrl: 'ldaps://127.0.0.1:636';
  /** PEM of the CA that signed the DC's certificate (names 127.0.0.1, ::1 and localhost). */
  ca: string;
  baseDn: string;
  /** NetBIOS domain name, for `EXAMPLE\alice` binds. */
  domain: 'EXAMPLE';
  realm: 'EXAMPLE.TEST';
  upnSuffix: '@example.test';
  adminDn: string;
  adminPassword: string;
  users: typeof SAMBA_AD_USERS;
  groups: typeof SAMBA_AD_GROUPS;
  /** This DC's own copy of the domain; gone after stop(). */
  dir: string;
  stop(): Promise<void>;
}

export interface SambaAdOptions {
  /**
   * Samba's default, `ldap server require strong auth = yes`: simple binds on ldap:// without
   * StartTLS fail with StrongAuthRequiredError ("BindSimple: Transport encryption required").
   * Default false, so that tests can bind on the plain port.
   */
  requireStrongAuth?: boolean;
}

// Everything below must match what scripts/ad/samba-ad.sh provisions and seeds.
export const SAMBA_AD_BASE_DN = 'DC=example,DC=test';
const USERS = `CN=Users,${SAMBA_AD_BASE_DN}`;
const SERVICE_ACCOUNTS = `OU=Service Accounts,${SAMBA_AD_BASE_DN}`;

const user = (username: string, cn: string, password: string, parent = USERS): SambaAdUser => ({
  username,
  upn: `${username}@example.test`,
  dn: `CN=${cn},${parent}`,
  password,
});

/**
 * The domain locks an account after this many wrong passwords, until an administrator unlocks it;
 * a successful bind resets the count. Every DC starts from a fresh copy, so only a suite's own wrong
 * binds count.
 */
export const SAMBA_AD_LOCKOUT_THRESHOLD = 3;

export const SAMBA_AD_ADMIN = user('Administrator', 'Administrator', 'Admin-Passw0rd!');

export const SAMBA_AD_USERS = {
  /** CN "Alice Example": her DN is not built from her login name. */
  alice: user('alice', 'Alice Example', 'Alice-Passw0rd!'),
  bob: user('bob', 'bob', 'Bob-Passw0rd!'),
  /** ACCOUNTDISABLE: the right password fails with "data 533". */
  disabled: user('disabled.user', 'disabled.user', 'Disabled-Passw0rd!'),
  /** accountExpires 2024-01-01: the right password fails with "data 701". */
  expired: user('expired.user', 'expired.user', 'Expired-Passw0rd!'),
  /** pwdLastSet 0: the right password fails with "data 773". */
  mustChange: user('mustchange.user', 'mustchange.user', 'MustChange-Passw0rd!'),
  /** Locked out for good: any password fails with "data 775". */
  locked: user('locked.user', 'locked.user', 'Locked-Passw0rd!'),
  svcReporting: user('svc-reporting', 'svc-reporting', 'Svc-Passw0rd!', SERVICE_ACCOUNTS),
} as const;

const group = (cn: string) => ({ cn, dn: `CN=${cn},${USERS}` });

/**
 * Global security groups. Nesting: alice ∈ AI Users ∈ Data Readers ∈ All Staff; bob ∈ Finance.
 * memberOf lists direct groups only; the in-chain rule 1.2.840.113556.1.4.1941 finds all three.
 */
export const SAMBA_AD_GROUPS = {
  aiUsers: group('AI Users'),
  dataReaders: group('Data Readers'),
  allStaff: group('All Staff'),
  finance: group('Finance'),
} as const;

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/ad/samba-ad.sh');
const PORTS = [389, 636, 3268, 3269];
const LOCK = join(tmpdir(), 'eip-samba-ad.lock');
const INSTALL_MS = 300_000;
const PROVISION_MS = 120_000;
const LOCK_WAIT_MS = 120_000;
const START_MS = 60_000;
const STOP_MS = 10_000;

/** Thrown inside this file for "cannot run here"; startSambaAd turns it into undefined. */
class Unavailable extends Error {}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const onPath = (command: string) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => existsSync(join(dir, command)));

/**
 * Why no DC can run here, decided without starting anything (for describe.skip), or undefined.
 * Port conflicts only show up in startSambaAd().
 */
export function sambaAdSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `Samba AD needs Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'Samba AD needs root (its LDAP port, 389, is privileged)';
  if (!existsSync('/usr/sbin/samba') && !onPath('apt-get'))
    return `Samba is not installed and there is no apt-get; see ${SCRIPT}`;
  return undefined;
}

/** Runs a command in its own process group, so a timeout kills samba-tool's children too. */
async function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => {
    child.once('close', (exitCode, exitSignal) => done([exitCode, exitSignal]));
    child.once('error', (error) => {
      output += String(error);
      done([null, null]);
    });
  });
  clearTimeout(timer);
  if (code === 0) return output;
  const why = signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : `exit ${code}`;
  throw new Error(`${[command, ...args].join(' ')}: ${why}\n${output.slice(-4000)}`);
}

/**
 * The provisioned, seeded domain, built once per script version and Samba version: provisioning
 * and seeding take ~7 s, a copy ~0.1 s. Builders work in a temporary directory and rename it into
 * place, so concurrent builders and interrupted builds never leave a half-made template.
 */
async function template(): Promise<string> {
  try {
    await run('bash', [SCRIPT, 'install'], INSTALL_MS);
  } catch (error) {
    throw new Unavailable(`Samba could not be installed: ${String(error)}`);
  }
  const version = await run('/usr/sbin/samba', ['-V'], 10_000);
  const key = createHash('sha256')
    .update(await readFile(SCRIPT))
    .update(version)
    .digest('hex')
    .slice(0, 16);
  const root = join(tmpdir(), 'eip-samba-template');
  const dir = join(root, key);
  if (existsSync(join(dir, 'private', 'sam.ldb'))) return dir;
  await mkdir(root, { recursive: true });
  const building = await mkdtemp(join(root, `${key}.building-`));
  try {
    const deadline = Date.now() + PROVISION_MS;
    await run('bash', [SCRIPT, 'provision', building], PROVISION_MS);
    await run('bash', [SCRIPT, 'seed', building], Math.max(deadline - Date.now(), 1));
    await rename(building, dir).catch((error: unknown) => {
      // Another process finished first; its template is as good as ours.
      const { code } = error as NodeJS.ErrnoException;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One DC at a time on this machine. link() creates the lock file atomically with the holder's
 * pid already in it; a lock whose holder died (a killed Jest worker) is taken over.
 */
async function lockPorts(): Promise<() => Promise<void>> {
  const mine = `${LOCK}.${process.pid}`;
  await writeFile(mine, String(process.pid));
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        await link(mine, LOCK);
        // Only if still ours: a lock taken over as stale belongs to its new holder.
        return async () => {
          const holder = await readFile(LOCK, 'utf8').catch(() => '');
          if (holder === String(process.pid)) await rm(LOCK, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number(await readFile(LOCK, 'utf8').catch(() => '0'));
      if (holder === process.pid)
        throw new Error('startSambaAd: this process already runs the DC; stop() it first');
      if (!alive(holder)) {
        await rm(LOCK, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Unavailable(
          `process ${holder} has held the DC for over ${LOCK_WAIT_MS / 1000} s`,
        );
      await sleep(250);
    }
  } finally {
    await rm(mine, { force: true });
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

/** The DC answers LDAP and is ours (a foreign server on 389 would have failed the port check). */
async function ready(child: ChildProcess, log: string): Promise<void> {
  const running = () => child.exitCode === null && child.signalCode === null;
  const deadline = Date.now() + START_MS;
  for (;;) {
    if (!running()) {
      const output = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`samba exited (${child.exitCode ?? child.signalCode})\n${output}`);
    }
    if (Date.now() > deadline) throw new Error(`samba did not answer within ${START_MS / 1000} s`);
    if (await accepts(389)) {
      const client = new Client({ url: 'ldap://127.0.0.1:389', timeout: 5000 });
      try {
        // The rootDSE is readable anonymously; anything else needs a bind.
        const { searchEntries } = await client.search('', { scope: 'base' });
        if (searchEntries[0]?.defaultNamingContext === SAMBA_AD_BASE_DN) return;
      } catch {
        // Listening but not serving yet.
      } finally {
        await client.unbind().catch(() => undefined);
      }
    }
    await sleep(50);
  }
}

async function start(options: SambaAdOptions): Promise<SambaAd> {
  const source = await template();
  const unlock = await lockPorts();
  let dir: string | undefined;
  let child: ChildProcess | undefined;
  const halt = async () => {
    const samba = child;
    if (samba && samba.exitCode === null && samba.signalCode === null) {
      const exited = new Promise((done) => samba.once('exit', done));
      // Samba (-i) ends on EOF on stdin; SIGTERM too; SIGKILL if neither works in time.
      samba.stdin?.end();
      samba.kill('SIGTERM');
      const timer = setTimeout(() => samba.kill('SIGKILL'), STOP_MS);
      await exited;
      clearTimeout(timer);
    }
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await unlock();
  };
  // Idempotent: afterAll may call it after a failed start already did.
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= halt());
  try {
    for (const port of PORTS) {
      if (await accepts(port))
        throw new Unavailable(`127.0.0.1:${port} is in use by another program`);
    }
    dir = await mkdtemp(join(tmpdir(), 'eip-samba-'));
    await run('bash', [SCRIPT, 'clone', source, dir], 30_000);
    if (options.requireStrongAuth === true) {
      const conf = join(dir, 'etc', 'smb.conf');
      const text = await readFile(conf, 'utf8');
      await writeFile(conf, text.replace(/require strong auth = no/, 'require strong auth = yes'));
    }
    const log = join(dir, 'log', 'samba.out');
    const out = openSync(log, 'w');
    // stdin is a pipe that nobody writes: when this process dies, however, the pipe closes and
    // Samba (-i) exits with it. Output goes to a file so that nothing has to drain it.
    child = spawn('bash', [SCRIPT, 'start', dir], { stdio: ['pipe', out, out] });
    closeSync(out);
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    await ready(child, log);
    return {
      url: 'ldap://127.0.0.1:389',
      ldapsUrl: 'ldaps://127.0.0.1:636',
      ca: await readFile(join(dir, 'private', 'tls', 'ca.pem'), 'utf8'),
      baseDn: SAMBA_AD_BASE_DN,
      domain: 'EXAMPLE',
      realm: 'EXAMPLE.TEST',
      upnSuffix: '@example.test',
      adminDn: SAMBA_AD_ADMIN.dn,
      adminPassword: SAMBA_AD_ADMIN.password,
      users: SAMBA_AD_USERS,
      groups: SAMBA_AD_GROUPS,
      dir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Adds an enabled person to CN=Users, as the Administrator over LDAPS (AD sets passwords only on
 * an encrypted connection): for tests that change an account's state (bad-password count,
 * lockout), which must not touch the shared users. `upn` and `mail` default to
 * `<username>@example.test`; give them other local parts to test names AD links and text does not.
 */
export async function addSambaAdUser(
  ad: SambaAd,
  fields: { username: string; password: string; upn?: string; mail?: string },
): Promise<SambaAdUser & { mail: string }> {
  const created = {
    ...user(fields.username, fields.username, fields.password),
    ...(fields.upn === undefined ? {} : { upn: fields.upn }),
    mail: fields.mail ?? `${fields.username}@example.test`,
  };
  const client = new Client({ url: ad.ldapsUrl, tlsOptions: { ca: ad.ca }, timeout: 5000 });
  try {
    await client.bind(SAMBA_AD_ADMIN.dn, SAMBA_AD_ADMIN.password);
    const text = (type: string, ...values: string[]) => new Attribute({ type, values });
    await client.add(created.dn, [
      text('objectClass', 'top', 'person', 'organizationalPerson', 'user'),
      text('sAMAccountName', created.username),
      text('userPrincipalName', created.upn),
      text('mail', created.mail),
      // unicodePwd: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5.1).
      new Attribute({
        type: 'unicodePwd',
        values: [Buffer.from(`"${created.password}"`, 'utf16le')],
      }),
      text('userAccountControl', '512'),
    ]);
  } finally {
    await client.unbind().catch(() => undefined);
  }
  return created;
}

/** An account's bad-password count and whether it is locked out, read as the Administrator. */
export async function sambaAdLockoutState(
  ad: SambaAd,
  dn: string,
): Promise<{ badPwdCount: number; locked: boolean }> {
  const client = new Client({ url: ad.ldapsUrl, tlsOptions: { ca: ad.ca }, timeout: 5000 });
  try {
    await client.bind(SAMBA_AD_ADMIN.dn, SAMBA_AD_ADMIN.password);
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      attributes: ['badPwdCount', 'lockoutTime'],
    });
    const value = (name: string) => Number(searchEntries[0]?.[name] ?? 0) || 0;
    return { badPwdCount: value('badPwdCount'), locked: value('lockoutTime') > 0 };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/**
 * A fresh copy of the EXAMPLE.TEST domain, served on 127.0.0.1 until stop(); undefined (reason
 * logged) where Samba cannot run. Call stop() in afterAll: the next suite waits for this one.
 * First use on a machine installs Samba if missing (root with apt-get) and provisions (~10 s).
 */
export async function startSambaAd(options: SambaAdOptions = {}): Promise<SambaAd | undefined> {
  const reason = sambaAdSkipReason();
  try {
    if (reason !== undefined) throw new Unavailable(reason);
    return await start(options);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    console.warn(`startSambaAd: no Samba AD DC: ${error.message}`);
    return undefined;
  }
}
