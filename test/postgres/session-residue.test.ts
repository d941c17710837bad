// What a statement could leave behind beyond its own transaction, and what the server could read
// differently from the check: each closed, on the real server whose pooled connections are shared.
import { createMemoryAuditSink } from 'express-identity-passthrough';
import { createUserQuery, type UserQuery } from 'express-identity-passthrough/postgres';
import {
  ordersIdentities,
  realOrdersDatabase,
  type OrdersDatabase,
} from '../helpers/orders-database.js';

let db: OrdersDatabase;
let sql: UserQuery;
const audit = createMemoryAuditSink();
const people = ordersIdentities();

beforeAll(async () => {
  db = await realOrdersDatabase();
  sql = createUserQuery({
    database: db.database,
    roles: { sales_admin: 'app_admin', sales: 'app_sales' },
    audit,
  });
}, 60_000);
afterAll(() => db.close());

test('SELECT INTO on the left of a UNION is refused like a plain one, on a write call too', async () => {
  const before = db.transactions();
  await expect(
    sql.query(
      'SELECT id, item INTO TEMP stolen FROM orders UNION ALL SELECT id, item FROM orders WHERE false',
      [],
      { identity: people['alice'], readOnly: false },
    ),
  ).rejects.toMatchObject({ code: 'sql_refused', details: { reason: 'statement_not_allowed' } });
  expect(db.transactions()).toBe(before);
  // Positive control: the same UNION without INTO runs.
  const { rows } = await sql.query(
    'SELECT id, item FROM orders UNION ALL SELECT id, item FROM orders WHERE false',
    [],
    { identity: people['alice'] },
  );
  expect(rows.length).toBeGreaterThan(0);
});

test('setseed() is refused: the seed would outlive the call on the pooled connection', async () => {
  await expect(
    sql.query('SELECT setseed(0.5)', [], { identity: people['alice'] }),
  ).rejects.toMatchObject({ code: 'sql_refused', details: { reason: 'function_not_allowed' } });
  await expect(
    sql.query('SELECT random() < 2 AS ok', [], { identity: people['alice'] }),
  ).resolves.toMatchObject({ rows: [{ ok: true }] });
});

test('with standard_conforming_strings off on the connection, a backslash hides nothing from the check', async () => {
  // A legacy setting of the database or the login role, as a session default here.
  await db.onEachConnection('SET standard_conforming_strings = off');
  const hidden =
    "SELECT '\\' -- ', set_config('request.jwt.claims', '{\"preferred_username\":\"bob\"}', true) AS x";
  const { rows } = await sql.query(
    `${hidden}\n, current_setting('request.jwt.claims')::json->>'preferred_username' AS who`,
    [],
    { identity: people['alice'] },
  );
  // Read as the check read it: one string literal, then a comment; no set_config ran.
  expect(rows).toEqual([{ '?column?': '\\', who: 'alice' }]);
  await db.onEachConnection('RESET standard_conforming_strings');
});

test('a temporary table on a pooled connection does not survive a call', async () => {
  await db.onEachConnection('CREATE TEMP TABLE IF NOT EXISTS residue (secret text)');
  // As many calls at once as there are connections, so that every connection serves one.
  await Promise.all(
    Array.from({ length: db.connections }, () =>
      sql.query('SELECT pg_backend_pid() AS pid', [], { identity: people['alice'] }),
    ),
  );
  const left = await db.onEachConnection(
    "SELECT count(*)::int AS tables FROM pg_class WHERE relname = 'residue' AND relpersistence = 't'",
  );
  expect(left).toEqual(Array(db.connections).fill({ tables: 0 }));
});

test('a CTE does not hide a schema-qualified table of the same name from the audit', async () => {
  await sql.query('WITH orders AS (SELECT 1 AS id) SELECT o.id FROM public.orders o, orders', [], {
    identity: people['alice'],
  });
  expect(audit.events.at(-1)?.resource).toBe('public.orders');
  // Positive control: an unqualified reference to the CTE is not a table.
  await sql.query('WITH orders AS (SELECT 1 AS id) SELECT id FROM orders', [], {
    identity: people['alice'],
  });
  expect(audit.events.at(-1)?.resource).toBe('(none)');
});

test('SQL text past 100000 characters is refused before parsing (400), a long one is not', async () => {
  const padding = ' '.repeat(100_001);
  await expect(
    sql.query(`SELECT 1${padding}`, [], { identity: people['alice'] }),
  ).rejects.toMatchObject({ code: 'sql_invalid', details: { reason: 'too_long' } });
  await expect(
    sql.query(`SELECT 1 AS one${' '.repeat(90_000)}`, [], { identity: people['alice'] }),
  ).resolves.toMatchObject({ rows: [{ one: 1 }] });
});
