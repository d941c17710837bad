// The claims reach the server inside the transaction's first round trip, as dollar-quoted
// literals: values written to close that quote (a name holding `$v$`, a subject ending in `$v`,
// quotes, backslashes, a semicolon and a second statement) must arrive as the exact text, and run
// nothing.
import { buildIdentity, createMemoryAuditSink } from 'express-identity-passthrough';
import { createUserQuery } from 'express-identity-passthrough/postgres';
import { ORDERS_DATABASES, type OrdersDatabase } from '../helpers/orders-database.js';

const HOSTILE = [
  'x$v$y',
  "o'brien\\",
  'ends with $v',
  "$v$, true); SELECT set_config('role', 'app_admin', false); --",
  '$$ $a$ $v1$ $',
];

describe.each(ORDERS_DATABASES)('%s', (_label, open) => {
  let db: OrdersDatabase;
  beforeAll(async () => {
    db = await open();
  }, 60_000);
  afterAll(() => db.close());

  test.each(HOSTILE)(
    'a username and subject of %j arrive as they are, and run nothing',
    async (text) => {
      const sql = createUserQuery({
        database: db.database,
        roles: { sales: 'app_sales' },
        audit: createMemoryAuditSink(),
      });
      const identity = buildIdentity({
        provider: 'oidc',
        subject: text,
        issuer: 'https://idp.example.test',
        username: text,
        roles: ['sales'],
      });
      const { rows } = await sql.query(
        "SELECT current_user AS role, current_setting('request.jwt.claim.sub') AS sub, current_setting('request.jwt.claims')::json->>'preferred_username' AS name",
        [],
        { identity },
      );
      expect(rows).toEqual([{ role: 'app_sales', sub: text, name: text }]);
      // Nothing was left behind on any connection (a smuggled set_config(..., false) would be).
      const after = await db.onEachConnection('SELECT current_user AS role');
      expect(after).toEqual(Array(db.connections).fill({ role: db.loginRole }));
    },
  );
});
