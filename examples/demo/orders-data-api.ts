// A stand-in for a data gateway (DreamFactory's /api/v2/{service}/_table/{table} shape) in front
// of PostgreSQL with row-level security. It verifies the forwarded user token itself and runs
// every query as that user: SET LOCAL ROLE plus a per-transaction setting, as PostgREST does.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import express from 'express';
import {
  authenticate,
  createMemoryAuditSink,
  identityErrorHandler,
  requireUser,
} from 'express-identity-passthrough';

export const DATA_API_AUDIENCE = 'dreamfactory-api';
export const DATA_API_KEY = 'demo-app-key-not-a-user-credential';

const SCHEMA = `
  CREATE TABLE orders (
    id serial PRIMARY KEY, owner text NOT NULL, item text NOT NULL,
    amount numeric(10,2) NOT NULL, status text NOT NULL
  );
  INSERT INTO orders (owner, item, amount, status) VALUES
    ('alice', 'Laptop', 1299.00, 'open'), ('alice', 'Dock', 189.00, 'open'),
    ('alice', 'Mouse', 25.00, 'shipped'), ('bob', 'Standing desk', 540.00, 'open'),
    ('carol', 'Monitor', 329.00, 'open');
  CREATE ROLE app_user NOLOGIN;
  GRANT SELECT ON orders TO app_user;
  ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
  -- Each person sees their own orders, whoever calls and whatever the query says.
  CREATE POLICY own_orders ON orders FOR SELECT TO app_user
    USING (owner = current_setting('request.user', true));
`;

const COLUMNS = new Set(['id', 'item', 'amount', 'status']);
// The subset of DreamFactory's filter syntax the demo needs: (column = 'value').
const FILTER = /^\(?\s*([a-z_]+)\s*=\s*'([^']{0,100})'\s*\)?$/;

export interface OrdersDataApi {
  readonly origin: string;
  close(): Promise<void>;
}

export async function startOrdersDataApi(auth: {
  issuer: string;
  jwksUri: string;
}): Promise<OrdersDataApi> {
  const db = new PGlite();
  await db.exec(SCHEMA);
  const app = express();
  app.use(
    authenticate({
      issuer: auth.issuer,
      audience: DATA_API_AUDIENCE,
      jwksUri: auth.jwksUri,
      audit: createMemoryAuditSink(),
      source: 'orders-data-api',
    }),
  );
  app.get('/api/v2/db/_table/orders', requireUser(), async (req, res, next) => {
    if (req.get('x-dreamfactory-api-key') !== DATA_API_KEY) {
      res.status(401).json({ error: { message: 'Missing or invalid X-DreamFactory-API-Key.' } });
      return;
    }
    const filter =
      typeof req.query['filter'] === 'string' ? FILTER.exec(req.query['filter']) : null;
    if (req.query['filter'] !== undefined && (filter === null || !COLUMNS.has(filter[1] ?? ''))) {
      res.status(400).json({ error: { message: "Use filter=(column = 'value')." } });
      return;
    }
    try {
      const rows = await db.transaction(async (tx) => {
        await tx.query('SET LOCAL ROLE app_user');
        await tx.query("SELECT set_config('request.user', $1, true)", [
          req.identity?.username ?? '',
        ]);
        const where = filter === null ? '' : `WHERE ${filter[1] ?? 'id'} = $1`;
        const result = await tx.query(
          `SELECT id, item, amount::float AS amount, status FROM orders ${where} ORDER BY id`,
          filter === null ? [] : [filter[2]],
        );
        return result.rows;
      });
      res.json({ resource: rows });
    } catch (error) {
      next(error);
    }
  });
  app.use(identityErrorHandler());
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await db.close();
    },
  };
}
