// The PostgreSQL tests trust this fixture; these prove it is the server they assume: a superuser
// that can create login roles, SCRAM password authentication through pg's Pool, servers that do
// not share a port, an outage that fails fast, and nothing left behind.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { postgresBinaries, startPostgres, type PostgresServer } from './postgres-server.js';

// Run in reverse: a test's pools go before the server they talk to.
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(): Promise<PostgresServer> {
  const started = await startPostgres();
  cleanups.push(() => started.destroy());
  return started;
}

function pool(config: ConstructorParameters<typeof Pool>[0]): Pool {
  const created = new Pool({ connectionTimeoutMillis: 5000, ...config });
  created.on('error', () => undefined); // an idle client's socket closing when the server stops
  cleanups.push(() => created.end());
  return created;
}

/** Live (not zombie) processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const { stdout } = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return stdout.split('\n').filter((line) => line.includes(text) && !/^\s*\d+\s+Z/.test(line));
}

describe('postgresBinaries()', () => {
  it('finds initdb and postgres of one installation', () => {
    const binaries = postgresBinaries();
    expect(existsSync(binaries.initdb)).toBe(true);
    expect(existsSync(binaries.postgres)).toBe(true);
    expect(join(binaries.initdb, '..')).toBe(join(binaries.postgres, '..'));
  });
});

describe('startPostgres()', () => {
  it('answers queries as the superuser, on its own port of 127.0.0.1', async () => {
    const pg = await server();
    expect(pg.host).toBe('127.0.0.1');
    expect(pg.url).toBe(
      `postgres://postgres:${encodeURIComponent(pg.superuser.password)}@127.0.0.1:${pg.port}/postgres`,
    );
    const { rows } = await pg.query<{ user: string; superuser: boolean; encoding: string }>(
      `SELECT current_user AS user, usesuper AS superuser, pg_encoding_to_char(encoding) AS encoding
         FROM pg_user, pg_database WHERE usename = current_user AND datname = current_database()`,
    );
    expect(rows).toEqual([{ user: 'postgres', superuser: true, encoding: 'UTF8' }]);
    const settings = await pg.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
        WHERE name IN ('listen_addresses', 'max_connections', 'fsync', 'password_encryption')
        ORDER BY name`,
    );
    expect(settings.rows).toEqual([
      { name: 'fsync', setting: 'off' },
      { name: 'listen_addresses', setting: '127.0.0.1' },
      { name: 'max_connections', setting: '20' },
      { name: 'password_encryption', setting: 'scram-sha-256' },
    ]);
    const echoed = await pg.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]);
    expect(echoed.rows).toEqual([{ n: 42 }]);
  });

  it('requires the password: SCRAM, not trust', async () => {
    const pg = await server();
    const wrong = pool({ host: pg.host, port: pg.port, user: 'postgres', password: 'wrong' });
    await expect(wrong.query('SELECT 1')).rejects.toThrow(
      'password authentication failed for user "postgres"',
    );
  });

  it('lets a role created by the superuser log in with its password through a Pool', async () => {
    const pg = await server();
    await pg.query(`CREATE ROLE app LOGIN PASSWORD 'app-Password-1'`);
    await pg.query('CREATE DATABASE app OWNER app');
    const app = pool({
      host: pg.host,
      port: pg.port,
      user: 'app',
      password: 'app-Password-1',
      database: 'app',
    });
    await app.query('CREATE TABLE notes (body text)');
    await app.query('INSERT INTO notes VALUES ($1)', ['hello']);
    const { rows } = await app.query<{ user: string; body: string }>(
      'SELECT current_user AS user, body FROM notes',
    );
    expect(rows).toEqual([{ user: 'app', body: 'hello' }]);
    const { rows: methods } = await pg.query<{ method: string }>(
      `SELECT substr(rolpassword, 1, 13) AS method FROM pg_authid WHERE rolname = 'app'`,
    );
    expect(methods).toEqual([{ method: 'SCRAM-SHA-256' }]);
  });

  it('runs two servers at once, each with its own port, directory and data', async () => {
    const [first, second] = await Promise.all([server(), server()]);
    expect(first.port).not.toBe(second.port);
    expect(first.dir).not.toBe(second.dir);
    expect(first.superuser.password).not.toBe(second.superuser.password);
    await first.query('CREATE TABLE only_here (id int)');
    await expect(second.query('SELECT * FROM only_here')).rejects.toThrow(
      'relation "only_here" does not exist',
    );
    const ports = await Promise.all(
      [first, second].map(async (pg) => (await pg.query<{ port: string }>('SHOW port')).rows[0]),
    );
    expect(ports).toEqual([{ port: String(first.port) }, { port: String(second.port) }]);
  });

  it('stop(): queries fail at once, and open pools see the connection end', async () => {
    const pg = await server();
    const app = pool({ connectionString: pg.url });
    await app.query('SELECT 1'); // an idle client stays in the pool
    const began = Date.now();
    await pg.stop(); // fast shutdown: not held up by the pool's idle connection
    expect(Date.now() - began).toBeLessThan(5000);
    const failedAt = Date.now();
    await expect(pg.query('SELECT 1')).rejects.toThrow('ECONNREFUSED');
    await expect(app.query('SELECT 1')).rejects.toThrow('ECONNREFUSED');
    expect(Date.now() - failedAt).toBeLessThan(2000);
  });

  it('destroy(): removes the directory and leaves no PostgreSQL process behind', async () => {
    const pg = await startPostgres();
    expect(existsSync(join(pg.dir, 'data', 'PG_VERSION'))).toBe(true);
    const running = processesMentioning(pg.dir);
    expect(running).toHaveLength(1); // the postmaster: its children's titles do not name the dir
    const [postmasterPid] = running[0]!.trim().split(/\s+/);
    const children = spawnSync('ps', ['--ppid', postmasterPid!, '-o', 'pid='], {
      encoding: 'utf8',
    }).stdout.trim();
    expect(children).not.toBe(''); // checkpointer, walwriter, ...
    await pg.destroy();
    expect(existsSync(pg.dir)).toBe(false);
    expect(processesMentioning(pg.dir)).toEqual([]);
    const orphans = spawnSync('ps', ['-o', 'pid=,stat=', '-p', children.split(/\s+/).join(',')], {
      encoding: 'utf8',
    }).stdout;
    expect(orphans.split('\n').filter((line) => line && !/\sZ/.test(line))).toEqual([]);
  });
});
