// `npm run bench:sql`: what running an agent's SQL as the person costs per query, against the
// bare `pool.query` of a shared service login (what text-to-SQL agents do without this package).
// A real PostgreSQL server on 127.0.0.1 (the test fixture starts a private cluster) and
// node-postgres with a pool of 8 per login (the test cluster allows 20 connections). Both read
// the same 100 rows: the service login filters by owner in its SQL, the person's call gets them
// from a row-level security policy on `request.jwt.claim.sub`. Each variant runs sequentially
// (latency) and 8 at a time (throughput), interleaved over rounds after a warm-up; medians.
// The user-scoped call does the
// parser check, BEGIN READ ONLY, SET LOCAL ROLE, the claims, the statement, COMMIT, and the audit
// event (to a no-op sink, so that the database's cost is what is measured).
//   --calls N    calls per run (default 2000)    --rounds N  rounds (default 5)
//   --out FILE   append the report there (default: print only)
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { buildIdentity, runInRequestScope } from '../../lib/core.js';
import { createUserQuery } from '../../lib/postgres.js';
import { startPostgres } from '../../test/helpers/postgres-server.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(args[index + 1]);
};
const CALLS = option('calls', 2_000);
const ROUNDS = option('rounds', 5);
const CONCURRENCY = 8;
const outIndex = args.indexOf('--out');
const out = outIndex === -1 ? undefined : args[outIndex + 1];
const STATEMENT = 'SELECT id, item, amount FROM orders WHERE status = $1';
const SERVICE_STATEMENT = `${STATEMENT} AND owner = $2`;

const SCHEMA = `
  CREATE TABLE orders (id serial PRIMARY KEY, owner text, item text, amount numeric, status text);
  INSERT INTO orders (owner, item, amount, status)
    SELECT (ARRAY['u-alice','u-bob','u-carol'])[1 + i % 3], 'item ' || i, i, 'open'
    FROM generate_series(1, 300) i;
  CREATE ROLE app_sales NOLOGIN;
  GRANT SELECT ON orders TO app_sales;
  ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
  CREATE POLICY own ON orders TO app_sales
    USING (owner = current_setting('request.jwt.claim.sub', true));
  CREATE ROLE app_login LOGIN PASSWORD 'bench' NOINHERIT;
  GRANT app_sales TO app_login;
  CREATE ROLE service_login LOGIN PASSWORD 'bench';
  GRANT SELECT ON orders TO service_login;
`;

interface Run {
  readonly latencyUs: number;
  readonly perSecond: number;
}

async function measure(call: () => Promise<unknown>): Promise<Run> {
  const started = process.hrtime.bigint();
  for (let index = 0; index < CALLS; index += 1) await call();
  const sequentialNs = Number(process.hrtime.bigint() - started);
  const burstStarted = process.hrtime.bigint();
  for (let done = 0; done < CALLS; done += CONCURRENCY) {
    await Promise.all(Array.from({ length: CONCURRENCY }, call));
  }
  const burstNs = Number(process.hrtime.bigint() - burstStarted);
  return {
    latencyUs: sequentialNs / 1_000 / CALLS,
    perSecond: (Math.ceil(CALLS / CONCURRENCY) * CONCURRENCY) / (burstNs / 1e9),
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const server = await startPostgres();
const pools: pg.Pool[] = [];
try {
  await server.query(SCHEMA);
  const poolAs = (user: string) => {
    const pool = new pg.Pool({
      host: server.host,
      port: server.port,
      user,
      password: 'bench',
      database: 'postgres',
      max: CONCURRENCY,
    });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const service = poolAs('service_login');
  const sql = createUserQuery({
    database: poolAs('app_login'),
    roles: { sales_readonly: 'app_sales' },
    audit: { log() {} },
  });
  await sql.warm();
  const alice = buildIdentity({
    provider: 'oidc',
    subject: 'u-alice',
    issuer: 'https://idp.example.com',
    username: 'alice',
    roles: ['sales_readonly'],
  });
  const scope = { identity: alice, requestId: 'bench' };
  const variants: [string, () => Promise<unknown>][] = [
    [
      'bare pool.query (shared service login)',
      () => service.query(SERVICE_STATEMENT, ['open', 'u-alice']),
    ],
    [
      'createUserQuery (as the person, RLS)',
      () => runInRequestScope(scope, () => sql.query(STATEMENT, ['open'])),
    ],
  ];
  for (const [, call] of variants) await measure(call); // warm-up, unmeasured
  const runs = new Map<string, Run[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [name, call] of variants) runs.get(name)?.push(await measure(call));
  }
  const base = median((runs.get(variants[0]?.[0] ?? '') ?? []).map((run) => run.latencyUs));
  const lines = [
    '',
    `## SQL as the user, against a bare pool.query (Node ${process.version})`,
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}: PostgreSQL ${(await server.query('SHOW server_version')).rows[0]?.['server_version'] as string} on 127.0.0.1, node-postgres, a pool of ${CONCURRENCY}; \`${STATEMENT}\` (alice's 100 of 300 rows: filtered by owner in the service login's SQL, by a row-level security policy on \`request.jwt.claim.sub\` for the person). ${CALLS} sequential calls, then ${CALLS} ${CONCURRENCY} at a time; ${ROUNDS} interleaved rounds after a warm-up, medians.`,
    '',
    '| Variant | µs per query, sequential | added | queries/s at 8 concurrent |',
    '| --- | --- | --- | --- |',
    ...variants.map(([name]) => {
      const list = runs.get(name) ?? [];
      const latency = median(list.map((run) => run.latencyUs));
      return `| ${name} | ${latency.toFixed(0)} | ${(latency - base).toFixed(0)} | ${median(list.map((run) => run.perSecond)).toFixed(0)} |`;
    }),
    '',
  ];
  console.log(lines.join('\n'));
  if (out !== undefined) appendFileSync(out, lines.join('\n'));
} finally {
  await Promise.all(pools.map((pool) => pool.end()));
  await server.destroy();
}
