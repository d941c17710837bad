// The database the PostgreSQL tests query as signed-in people: an `orders` table whose rows are
// kept apart by row-level security on the claims `createUserQuery()` sets, and whose card numbers
// are kept from the sales role by column privileges. The same SQL runs on a real PostgreSQL
// server and on PGlite, so both are held to the same policies.
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { Pool, type PoolConfig } from 'pg';
import { buildIdentity, type Identity } from 'express-identity-passthrough';
import type { UserQueryOptions } from 'express-identity-passthrough/postgres';
import { startPostgres } from './postgres-server.js';

/** The identity roles each database role is given to, first match wins (the `roles` option). */
export const ORDERS_ROLES = Object.freeze({ sales_admin: 'app_admin', sales: 'app_sales' });

/** The columns `app_sales` may read: every one but `card_number`. */
export const SALES_COLUMNS = 'id, owner, item, amount, status';

/**
 * The roles, the table, its policies and its rows, as one script for `pglite.exec()` or a
 * superuser's simple-protocol query. `app_sales` reads its own rows by `preferred_username`;
 * `app_admin` reads every row and updates those whose `owner_sub` is its `sub`, read the way
 * Supabase's `auth.uid()` reads it (`request.jwt.claim.sub`).
 */
export const ORDERS_SCHEMA_SQL = `
  CREATE ROLE app_sales NOLOGIN;
  CREATE ROLE app_admin NOLOGIN;
  CREATE SCHEMA auth;
  GRANT USAGE ON SCHEMA auth TO app_sales, app_admin;
  CREATE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '') $$;

  CREATE TABLE orders (
    id integer PRIMARY KEY,
    owner text NOT NULL,
    owner_sub text NOT NULL,
    item text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    status text NOT NULL,
    card_number text NOT NULL
  );
  ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
  GRANT SELECT (id, owner, item, amount, status) ON orders TO app_sales;
  GRANT SELECT, UPDATE ON orders TO app_admin;
  CREATE POLICY sales_read_own ON orders FOR SELECT TO app_sales
    USING (owner = current_setting('request.jwt.claims', true)::json->>'preferred_username');
  CREATE POLICY admin_read_all ON orders FOR SELECT TO app_admin USING (true);
  CREATE POLICY admin_update_own ON orders FOR UPDATE TO app_admin
    USING (owner_sub = auth.uid()) WITH CHECK (owner_sub = auth.uid());

  INSERT INTO orders VALUES
    (1, 'alice', 'sub-alice', 'Widget', 10.00, 'open', '4111111111111111'),
    (2, 'alice', 'sub-alice', 'Gadget', 25.50, 'shipped', '4111111111111112'),
    (3, 'bob', 'sub-bob', 'Sprocket', 7.25, 'open', '4222222222222222'),
    (4, 'carol', 'sub-carol', 'Flange', 99.00, 'open', '4333333333333333');
`;

/** The people of the tests; their subjects differ from their usernames, as at most IdPs. */
export function ordersIdentities(): Readonly<Record<string, Identity>> {
  const person = (username: string, roles: string[]) =>
    buildIdentity({
      subject: `sub-${username}`,
      issuer: 'https://idp.example.com',
      provider: 'jwt',
      username,
      roles,
    });
  return Object.freeze({
    alice: person('alice', ['sales']),
    bob: person('bob', ['sales']),
    carol: person('carol', ['sales_admin', 'sales']),
    dave: person('dave', ['marketing']),
    robot: buildIdentity({
      subject: 'svc-reporting',
      issuer: 'https://idp.example.com',
      provider: 'jwt',
      username: 'svc-reporting',
      kind: 'service',
      serviceAccountRule: 'username_prefix',
      roles: ['sales'],
    }),
  });
}

/** One database the orders tests run against, and what the tests need to look at it from outside. */
export interface OrdersDatabase {
  /**
   * What `createUserQuery()` is given: the pool or PGlite, passed through unchanged but counting
   * the transactions asked of it, so a test can prove a refused statement never reached it.
   */
  readonly database: UserQueryOptions['database'];
  transactions(): number;
  /** The role the application itself connects as: `app_login`, or PGlite's `postgres`. */
  readonly loginRole: string;
  /** How many connections the application holds at most (the pool's `max`; PGlite has one). */
  readonly connections: number;
  /** A statement as the schema's owner (a superuser), never through `createUserQuery()`. */
  owner(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** One plain statement on each of the application's connections, as its other code runs them. */
  onEachConnection(sql: string): Promise<Record<string, unknown>[]>;
  /** The database stops answering (the server is shut down, PGlite closed). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** The password of `app_login`; the test server listens on 127.0.0.1 only, and lives one suite. */
const LOGIN_PASSWORD = 'app-login-Password-1';
const POOL_MAX = 2;

/**
 * A real PostgreSQL server with the orders schema, and a `pg` Pool (max 2) logged in as
 * `app_login`: NOINHERIT, so it has none of the privileges of `app_sales` and `app_admin`, only the
 * right to `SET ROLE` to them, and no table privilege of its own.
 */
export async function realOrdersDatabase(): Promise<OrdersDatabase> {
  const server = await startPostgres();
  const pools: Pool[] = [];
  const pool = (config: PoolConfig) => {
    const created = new Pool({ connectionTimeoutMillis: 5000, idleTimeoutMillis: 0, ...config });
    created.on('error', () => undefined); // an idle client's socket closing when the server stops
    pools.push(created);
    return created;
  };
  try {
    await server.query(ORDERS_SCHEMA_SQL);
    await server.query(
      `CREATE ROLE app_login LOGIN PASSWORD '${LOGIN_PASSWORD}' NOINHERIT;
       GRANT app_sales, app_admin TO app_login`,
    );
  } catch (error) {
    await server.destroy();
    throw error;
  }
  const app = pool({
    host: server.host,
    port: server.port,
    user: 'app_login',
    password: LOGIN_PASSWORD,
    database: 'postgres',
    max: POOL_MAX,
  });
  const owner = pool({ connectionString: server.url, max: 1 });
  let transactions = 0;
  return {
    database: {
      connect: () => {
        transactions += 1;
        return app.connect();
      },
    },
    transactions: () => transactions,
    loginRole: 'app_login',
    connections: POOL_MAX,
    owner: async (sql, params) => (await owner.query(sql, params)).rows,
    async onEachConnection(sql) {
      // Holding `max` clients at once is the only way to be handed every pooled connection.
      const clients = await Promise.all(Array.from({ length: POOL_MAX }, () => app.connect()));
      try {
        return await Promise.all(
          clients.map(async (client) => (await client.query(sql)).rows[0] ?? {}),
        );
      } finally {
        for (const client of clients) client.release();
      }
    },
    stop: () => server.stop(),
    async close() {
      for (const created of pools) await created.end().catch(() => undefined);
      await server.destroy();
    },
  };
}

/** PGlite with the orders schema: its one session is a superuser's, and `SET LOCAL ROLE` works. */
export async function pgliteOrdersDatabase(): Promise<OrdersDatabase> {
  const lite = new PGlite();
  await lite.exec(ORDERS_SCHEMA_SQL);
  let transactions = 0;
  return {
    database: {
      transaction: <T>(work: (tx: Transaction) => Promise<T>) => {
        transactions += 1;
        return lite.transaction(work);
      },
      exec: (sql: string) => lite.exec(sql),
    },
    transactions: () => transactions,
    loginRole: 'postgres',
    connections: 1,
    owner: async (sql, params) => (await lite.query<Record<string, unknown>>(sql, params)).rows,
    onEachConnection: async (sql) => [
      (await lite.query<Record<string, unknown>>(sql)).rows[0] ?? {},
    ],
    stop: () => lite.close(),
    async close() {
      if (!lite.closed) await lite.close();
    },
  };
}

/** Both databases, for `describe.each`: the same scenarios must hold on each. */
export const ORDERS_DATABASES = [
  ['real PostgreSQL', realOrdersDatabase],
  ['PGlite', pgliteOrdersDatabase],
] as const;

/**
 * What a connection carries between calls: its role, the claims, the sub and the statement
 * timeout. A custom setting once `SET LOCAL` reads '' afterwards (NULL before): both mean none.
 */
export const SESSION_STATE = `SELECT current_user AS role,
  coalesce(current_setting('request.jwt.claims', true), '') AS claims,
  coalesce(current_setting('request.jwt.claim.sub', true), '') AS sub,
  current_setting('statement_timeout') AS timeout,
  pg_backend_pid() AS pid`;

/** A row of {@link SESSION_STATE} from a connection that kept nothing of the people it served. */
export function cleanSession(db: OrdersDatabase): unknown {
  return expect.objectContaining({ role: db.loginRole, claims: '', sub: '', timeout: '0' });
}

/** {@link cleanSession} for each of the application's connections. */
export function cleanSessions(db: OrdersDatabase): unknown[] {
  return Array.from({ length: db.connections }, () => cleanSession(db));
}
