// The demo's SQL path: an agent that writes SQL itself (as text-to-SQL agents do) runs it
// straight against PostgreSQL (embedded: PGlite), as the signed-in person. The database's own
// row-level security filters the rows, its column privileges hide the card numbers from the
// sales role (which reads them masked through a view), and SQL that would change whose rows it
// sees is refused before it runs.
import { PGlite } from '@electric-sql/pglite';
import type { AuditSink } from 'express-identity-passthrough';
import { createUserQuery, type UserQuery } from 'express-identity-passthrough/postgres';

const SCHEMA = `
  CREATE TABLE orders (
    id serial PRIMARY KEY, owner text NOT NULL, item text NOT NULL,
    amount numeric(10,2) NOT NULL, status text NOT NULL, card_number text NOT NULL
  );
  INSERT INTO orders (owner, item, amount, status, card_number) VALUES
    ('alice', 'Laptop', 1299.00, 'open', '4111111111111111'),
    ('alice', 'Dock', 189.00, 'open', '4111111111111111'),
    ('alice', 'Mouse', 25.00, 'shipped', '4111111111111111'),
    ('bob', 'Standing desk', 540.00, 'open', '5500005555555559'),
    ('carol', 'Monitor', 329.00, 'open', '340000000000009');
  -- The roles a person's statements take on; the connection's own role has no table privileges.
  CREATE ROLE app_sales NOLOGIN;
  CREATE ROLE app_admin NOLOGIN;
  GRANT SELECT (id, owner, item, amount, status) ON orders TO app_sales;
  GRANT SELECT, UPDATE ON orders TO app_admin;
  ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
  -- Each person sees their own orders, whatever the SQL says: the claims are set per statement.
  CREATE POLICY own_orders ON orders TO app_sales, app_admin
    USING (owner = current_setting('request.jwt.claims', true)::json->>'preferred_username');
  -- Card numbers, masked, for the sales role: the view filters by the same claim.
  CREATE VIEW orders_masked WITH (security_barrier) AS
    SELECT id, item, '**** **** **** ' || right(card_number, 4) AS card
    FROM orders
    WHERE owner = current_setting('request.jwt.claims', true)::json->>'preferred_username';
  GRANT SELECT ON orders_masked TO app_sales;
`;

export interface SqlAgentDatabase {
  readonly sql: UserQuery;
  close(): Promise<void>;
}

export async function startSqlAgentDatabase(audit: AuditSink): Promise<SqlAgentDatabase> {
  const db = new PGlite();
  await db.exec(SCHEMA);
  const sql = createUserQuery({
    database: db,
    // The demo's roles (after role_mapping) to database roles, most privileged first.
    roles: { sales_admin: 'app_admin', sales_readonly: 'app_sales' },
    audit,
    source: 'sql-agent',
  });
  await sql.warm();
  return { sql, close: () => db.close() };
}
