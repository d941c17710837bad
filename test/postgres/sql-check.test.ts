// What lib/postgres/sql-check.ts lets through, run against a real PostgreSQL server and PGlite:
// functions that run SQL given as text (where set_config() is out of the check's sight), a
// setting changed by another name than SET, and a table made by SELECT INTO. Each test expects
// the refusal, and says in a comment what happens instead today. The rest of createUserQuery()
// is tested in user-query.test.ts.
import { createMemoryAuditSink } from 'express-identity-passthrough';
import { createUserQuery, type UserQuery } from 'express-identity-passthrough/postgres';
import {
  ORDERS_DATABASES,
  ORDERS_ROLES,
  SESSION_STATE,
  cleanSessions,
  ordersIdentities,
  type OrdersDatabase,
} from '../helpers/orders-database.js';

const people = ordersIdentities();
const alice = people['alice']!;
const carol = people['carol']!;

describe.each(ORDERS_DATABASES)('what the SQL check lets through, on %s', (_name, open) => {
  let db: OrdersDatabase;
  let sql: UserQuery;

  beforeAll(async () => {
    db = await open();
    sql = createUserQuery({
      database: db.database,
      roles: ORDERS_ROLES,
      audit: createMemoryAuditSink(),
    });
  });
  afterAll(async () => {
    await db.close();
  });

  test('ts_stat() is refused: its argument is SQL it runs, where set_config() forges the claims', async () => {
    const own = await sql.query('SELECT json_agg(item ORDER BY id) AS items FROM orders', [], {
      identity: alice,
    });
    expect(own.rows).toEqual([{ items: ['Widget', 'Gadget'] }]);

    const forged = `SELECT (SELECT count(*) FROM ts_stat($$SELECT to_tsvector('simple',
        set_config('request.jwt.claims', '{"preferred_username":"bob"}', true))$$)) AS words,
      (SELECT json_agg(item ORDER BY id) FROM orders) AS items`;
    const outcome = await sql.query(forged, [], { identity: alice }).then(
      (result) => result.rows,
      (error: unknown) => error,
    );
    // Today alice gets [{ words: 3, items: ['Sprocket'] }]: bob's order.
    expect(outcome).toMatchObject({
      code: 'sql_refused',
      details: { reason: 'function_not_allowed' },
    });
  });

  test('ts_stat() and ts_rewrite() with set_config(..., false) leave nothing on the connection', async () => {
    const attacks = [
      `SELECT count(*) FROM ts_stat($$SELECT to_tsvector('simple',
         set_config('role', 'app_admin', false))$$)`,
      `SELECT ts_rewrite('a'::tsquery, $$SELECT 'a'::tsquery, 'b'::tsquery
         WHERE set_config('request.jwt.claims', '{"preferred_username":"bob"}', false) IS NOT NULL$$)`,
    ];
    const outcomes = [];
    try {
      for (const attack of attacks) {
        outcomes.push(
          await sql.query(attack, [], { identity: alice }).then(
            () => 'ran',
            (error: unknown) => (error as { code?: string }).code,
          ),
        );
      }
      const sessions = await db.onEachConnection(SESSION_STATE);
      // Today: 'ran' twice, and a connection whose role is app_admin and whose claims are bob's.
      expect({ outcomes, sessions }).toEqual({
        outcomes: ['sql_refused', 'sql_refused'],
        sessions: cleanSessions(db),
      });
    } finally {
      await db.onEachConnection(
        "SELECT set_config('role', 'none', false), set_config('request.jwt.claims', '', false)",
      );
    }
  });

  test('UPDATE pg_settings is refused: it is SET by another name, and outlives the call', async () => {
    const [original] = await db.onEachConnection("SELECT current_setting('search_path') AS path");
    try {
      const outcome = await sql
        .query("UPDATE pg_settings SET setting = 'pg_temp' WHERE name = 'search_path'", [], {
          identity: carol,
          readOnly: false,
        })
        .then(
          () => 'ran',
          (error: unknown) => (error as { details?: unknown }).details,
        );
      const paths = await db.onEachConnection("SELECT current_setting('search_path') AS path");
      // Today: 'ran', and the connection's search_path is pg_temp: the next person's
      // `SELECT ... FROM orders` fails with 42P01 (relation "orders" does not exist).
      expect({ outcome, paths }).toEqual({
        outcome: { reason: 'setting_change' },
        paths: Array.from({ length: db.connections }, () => original),
      });
    } finally {
      await db.onEachConnection('RESET search_path');
    }
  });

  test('SELECT INTO is refused on a write call too: a TEMP table would outlive the call', async () => {
    try {
      const outcome = await sql
        .query('SELECT id, card_number INTO TEMP stolen FROM orders', [], {
          identity: carol,
          readOnly: false,
        })
        .then(
          () => 'ran',
          (error: unknown) => (error as { details?: unknown }).details,
        );
      const tables = await db.onEachConnection(
        "SELECT to_regclass('pg_temp.stolen')::text AS stolen",
      );
      // Today: 'ran', and one pooled connection keeps pg_temp.stolen, every card number in it,
      // for the next app_admin call that lands on that connection to read.
      expect({ outcome, tables }).toEqual({
        outcome: { reason: 'statement_not_allowed' },
        tables: Array.from({ length: db.connections }, () => ({ stolen: null })),
      });
    } finally {
      await db.onEachConnection('DISCARD TEMP');
    }
  });
});
