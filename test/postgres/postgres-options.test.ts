// createUserQuery()'s options, checked once when it is built: each mistake is a TypeError naming
// the option, and a valid set is kept as given. No statement runs here: the Pool never connects.
import { Pool } from 'pg';
import { createUserQuery, type UserQueryOptions } from 'express-identity-passthrough/postgres';
import { ORDERS_ROLES } from '../helpers/orders-database.js';

// Port 1 on 127.0.0.1: were anything to connect, it would fail at once rather than hang.
const pool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
afterAll(async () => {
  await pool.end();
});

function build(overrides: Record<string, unknown>) {
  return () => createUserQuery({ database: pool, roles: ORDERS_ROLES, ...overrides });
}

describe('createUserQuery() options', () => {
  test('a Pool and a roles map are enough; the options object is left as it was', () => {
    const options = { database: pool, roles: { ...ORDERS_ROLES } };
    const sql = createUserQuery(options);
    expect(typeof sql.query).toBe('function');
    expect(typeof sql.warm).toBe('function');
    expect(Object.isFrozen(sql)).toBe(true);
    expect(options).toEqual({ database: pool, roles: ORDERS_ROLES });
    expect(Object.isFrozen(options.roles)).toBe(false);
  });

  describe('database', () => {
    test('missing: TypeError naming "database"', () => {
      expect(() => createUserQuery({ roles: ORDERS_ROLES } as unknown as UserQueryOptions)).toThrow(
        new TypeError(
          'createUserQuery: option "database" must be a node-postgres Pool or a PGlite instance',
        ),
      );
    });

    test('a connection string instead of a Pool: the same TypeError', () => {
      expect(build({ database: 'postgres://app@127.0.0.1/app' })).toThrow(
        /^createUserQuery: option "database" must be a node-postgres Pool or a PGlite instance$/,
      );
    });
  });

  describe('roles', () => {
    test('missing: TypeError naming "roles"', () => {
      expect(() => createUserQuery({ database: pool } as unknown as UserQueryOptions)).toThrow(
        /^createUserQuery: option "roles" /,
      );
    });

    test('empty: TypeError, a user must be able to map to some role', () => {
      expect(build({ roles: {} })).toThrow(
        new TypeError('createUserQuery: option "roles" must map at least one role'),
      );
    });

    test.each([
      ['a quote', 'app"sales'],
      ['upper case', 'App_Sales'],
      ['a space', 'app sales'],
      ['a semicolon', 'app_sales; DROP TABLE orders'],
      ['an empty name', ''],
      ['more than 63 characters', `r${'x'.repeat(63)}`],
    ])('a database role with %s: TypeError naming the entry', (_label, databaseRole) => {
      expect(build({ roles: { sales: databaseRole } })).toThrow(
        new TypeError(
          'createUserQuery: option "roles.sales" must be a lower-case PostgreSQL role name (a-z, 0-9, _, $)',
        ),
      );
    });

    test('lower-case names with digits, _ and $ are accepted', () => {
      expect(build({ roles: { sales: 'app_sales_2', ops: 'ops$team', _x: '_x' } })).not.toThrow();
    });
  });

  describe('statementTimeoutMs', () => {
    test.each([50, 600_001, 1.5, '1000'])('%p: TypeError naming it', (value) => {
      expect(build({ statementTimeoutMs: value })).toThrow(
        /^createUserQuery: option "statementTimeoutMs" /,
      );
    });

    test.each([100, 600_000])('%p is accepted', (value) => {
      expect(build({ statementTimeoutMs: value })).not.toThrow();
    });
  });

  test('a misspelled option: TypeError with the one meant', () => {
    expect(build({ statementTimeout: 1000 })).toThrow(
      new TypeError(
        'createUserQuery: unknown option "statementTimeout" (did you mean "statementTimeoutMs"?)',
      ),
    );
  });

  test('an audit sink without log(): TypeError naming "audit"', () => {
    expect(build({ audit: {} })).toThrow(/^createUserQuery: option "audit" must be an audit sink/);
  });
});

describe('query() arguments', () => {
  test('SQL that is not a string, or parameters that are not an array: TypeError', async () => {
    const sql = createUserQuery({ database: pool, roles: ORDERS_ROLES });
    await expect(sql.query(42 as unknown as string)).rejects.toThrow(
      new TypeError('query(sql, params): sql must be a string and params an array'),
    );
    await expect(sql.query('SELECT 1', 'x' as unknown as unknown[])).rejects.toThrow(TypeError);
  });
});
