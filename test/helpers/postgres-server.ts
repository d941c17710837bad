// A real PostgreSQL server per test suite: its own port on 127.0.0.1, its own temp directory and
// a fresh cluster with a random superuser password, so what talks to PostgreSQL is tested against
// the genuine server (roles, SCRAM authentication, outages) rather than a mock or an in-process
// emulation. The binaries are the Debian package's; scripts/ensure-postgres.mjs installs them.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Client, type QueryResult, type QueryResultRow } from 'pg';
import { freePort, terminate } from './child-server.js';

export interface PostgresServer {
  host: '127.0.0.1';
  port: number;
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres`, for `new Pool({ connectionString })`. */
  url: string;
  /** The cluster's superuser (`postgres`) and its random password (SCRAM-SHA-256). */
  superuser: { user: string; password: string };
  /** The server's own temp directory: `data/` (the cluster), `postgres.log` and the socket. */
  dir: string;
  /** One statement as the superuser in the `postgres` database, over a fresh connection. */
  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<QueryResult<R>>;
  /** Fast shutdown (SIGINT: clients are disconnected, not waited for), then waits for the exit. */
  stop(): Promise<void>;
  /** Stops the server (if running) and removes its directory. */
  destroy(): Promise<void>;
}

/** Where the server binaries are, and which major version they belong to (null: from PATH). */
export interface PostgresBinaries {
  version: number | null;
  initdb: string;
  postgres: string;
}

const READY_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 10_000;
const INITDB_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 5000;
const SUPERUSER = 'postgres';
// A test opens a handful of connections; the default 100 sizes shared memory and semaphores for
// 100 backends in every server, and suites run several servers at once.
const MAX_CONNECTIONS = 20;

const hasServer = (bin: string) =>
  existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'));
const binariesIn = (bin: string, version: number | null): PostgresBinaries => ({
  version,
  initdb: join(bin, 'initdb'),
  postgres: join(bin, 'postgres'),
});

/**
 * The newest PostgreSQL under /usr/lib/postgresql/VERSION/bin (Debian keeps the server binaries
 * off PATH there), else `initdb` and `postgres` on PATH; the same search as
 * scripts/ensure-postgres.mjs.
 *
 * @throws when neither has both binaries, naming the script that installs them.
 */
export function postgresBinaries(): PostgresBinaries {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  for (const version of versions) {
    const bin = join(root, String(version), 'bin');
    if (hasServer(bin)) return binariesIn(bin, version);
  }
  const bin = (process.env['PATH'] ?? '').split(delimiter).find((dir) => dir && hasServer(dir));
  if (bin) return binariesIn(bin, null);
  throw new Error(
    'No PostgreSQL server (initdb, postgres): run `node scripts/ensure-postgres.mjs`',
  );
}

interface Account {
  name: string;
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root ("root execution of the PostgreSQL server is not permitted"),
 * so a root test process runs it as the package's `postgres` system user, or `nobody`.
 */
function serverAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of [SUPERUSER, 'nobody']) {
    const { stdout, status } = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
    const [, , uid, gid] = stdout.split(':');
    if (status === 0 && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  throw new Error('Running as root, and neither a `postgres` nor a `nobody` user to run as');
}

/** argv prefix: as `account` (when root), and killed with us even on SIGKILL (see redis-server.ts). */
function wrapper(account: Account | undefined): string[] {
  if (!existsSync('/usr/bin/setpriv')) {
    if (account) throw new Error('Running PostgreSQL as root needs setpriv (util-linux)');
    return [];
  }
  // setpriv applies --pdeathsig after the uid change, which would otherwise clear it.
  const as = account ? [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups'] : [];
  return ['/usr/bin/setpriv', ...as, '--pdeathsig', 'KILL'];
}

// A minimal environment: a PGDATA, PGPORT or LANG of the developer's must not change the cluster.
const serverEnv = () => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' });

async function initdb(dir: string, account: Account | undefined, password: string) {
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (account) {
    await chown(dir, account.uid, account.gid);
    await chown(pwfile, account.uid, account.gid);
  }
  const [command, ...argv] = [
    ...wrapper(account),
    postgresBinaries().initdb,
    ...['-D', join(dir, 'data'), '-U', SUPERUSER, `--pwfile=${pwfile}`],
    ...['--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'],
    // No fsync of the new files: the cluster lives as long as the test.
    ...['--no-sync', '--no-instructions'],
  ];
  try {
    await promisify(execFile)(command!, argv, {
      cwd: dir, // the user running it may not be allowed into the test's cwd
      env: serverEnv(),
      timeout: INITDB_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`initdb failed: ${(error as Error).message}\n${stdout}${stderr}`, {
      cause: error,
    });
  } finally {
    await rm(pwfile, { force: true });
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect(port: number, password: string, timeoutMs = CONNECT_TIMEOUT_MS) {
  const client = new Client({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
    ssl: false, // not PGSSLMODE from the environment
    connectionTimeoutMillis: timeoutMs,
  });
  // A server shutting down under an idle client emits 'error' on it; unhandled, that kills Jest.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/** A postmaster, from spawn until it accepts the superuser as itself, or an error with its log. */
async function launch(dir: string, port: number, account: Account | undefined, password: string) {
  const data = join(dir, 'data');
  const [command, ...argv] = [
    ...wrapper(account),
    postgresBinaries().postgres,
    ...['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'],
    ...['-c', `unix_socket_directories=${dir}`, '-c', `max_connections=${MAX_CONNECTIONS}`],
    // Durability is not under test: a crash loses the temp cluster anyway.
    ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  ];
  // The log to a file rather than a pipe: nothing of the server's keeps the test process alive.
  const logFile = join(dir, 'postgres.log');
  const log = openSync(logFile, 'a');
  const child = spawn(command!, argv, { cwd: dir, env: serverEnv(), stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  child.on('error', () => undefined); // a failed spawn: exitCode -2, caught below
  const lastResort = () => child.kill('SIGKILL');
  process.once('exit', lastResort);
  child.once('exit', () => process.removeListener('exit', lastResort));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exited()) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode})`);
      // ECONNREFUSED before it listens, 57P03 "the database system is starting up" after.
      const client = await connect(port, password, 1000).catch((error: unknown) => error);
      if (client instanceof Client) {
        // Whoever answered may be another server that took the port between our probe and bind.
        const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
        await client.end();
        if (rows[0]?.data_directory !== data) {
          throw new Error(`Address already in use: another server answers on port ${port}`);
        }
        return child;
      }
      if (Date.now() > deadline) {
        throw new Error(`postgres did not accept connections within ${READY_TIMEOUT_MS} ms`, {
          cause: client,
        });
      }
      await delay(50);
    }
  } catch (error) {
    await terminate(child, 'SIGKILL', 'postgres', EXIT_TIMEOUT_MS);
    const output = await readFile(logFile, 'utf8').catch(() => '');
    throw new Error(`${(error as Error).message}\n--- postgres log ---\n${output}`, {
      cause: error,
    });
  }
}

/**
 * Creates a cluster in a new temp directory (UTF8, C locale, SCRAM-SHA-256 for every connection,
 * a random superuser password), starts it on a free port of 127.0.0.1 and resolves once the
 * superuser can connect. As root, the server runs as the `postgres` (or `nobody`) user.
 *
 * @example
 * const pg = await startPostgres();
 * await pg.query(`CREATE ROLE app LOGIN PASSWORD 'app-Password-1'`);
 * const pool = new Pool({ connectionString: pg.url });
 * // ...
 * await pool.end();
 * await pg.destroy();
 */
export async function startPostgres(): Promise<PostgresServer> {
  const account = serverAccount();
  const password = randomBytes(18).toString('base64url');
  const dir = await mkdtemp(join(tmpdir(), 'postgres-'));
  let port = 0;
  let child: ChildProcess | undefined;
  try {
    await initdb(dir, account, password);
    for (let tries = 1; !child; tries++) {
      port = await freePort();
      try {
        child = await launch(dir, port, account, password);
      } catch (error) {
        // Another process may take the port between our probe and the postmaster's bind.
        if (tries >= 5 || !String(error).includes('Address already in use')) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    // SIGINT, not SIGTERM: a "smart" shutdown would wait for every pool of the test to close.
    await terminate(child, 'SIGINT', 'postgres', EXIT_TIMEOUT_MS);
  };
  return {
    host: '127.0.0.1',
    port,
    url: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    superuser: { user: SUPERUSER, password },
    dir,
    async query<R extends QueryResultRow>(sql: string, params?: unknown[]) {
      const client = await connect(port, password);
      try {
        return await client.query<R>(sql, params);
      } finally {
        await client.end();
      }
    },
    stop,
    async destroy() {
      try {
        await stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
