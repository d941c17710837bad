// Two ways around the guard a review found, closed: the SDK's requireBearerAuth path, where a
// tool's opt-in for service accounts must not open the whole server, and a body a parser left as
// `{}` for a type that is not JSON.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import request from 'supertest';
import { createMemoryAuditSink } from 'express-identity-passthrough';
import { protectMcp } from 'express-identity-passthrough/mcp';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();
const RESOURCE = 'http://127.0.0.1:9/mcp';

function protectedServer() {
  return protectMcp({
    resource: RESOURCE,
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    tools: { health: { dangerouslyAllowServiceAccounts: true }, query_orders: {} },
    audit: createMemoryAuditSink(),
  });
}

const serviceToken = () =>
  idp.sign({ sub: 'svc', client_id: 'svc', gty: 'client-credentials', aud: RESOURCE });
const userToken = () => idp.sign({ sub: 'alice', preferred_username: 'alice', aud: RESOURCE });

test('mcp.verifier refuses a service account even when one tool lets service accounts in', async () => {
  const mcp = protectedServer();
  await expect(mcp.verifier.verifyAccessToken(await serviceToken())).rejects.toThrow(
    /service account/i,
  );
  // Positive control: a person's token passes, with their identity in extra.
  const info = await mcp.verifier.verifyAccessToken(await userToken());
  expect(info.extra?.['username']).toBe('alice');
});

test('a POST whose body a parser left as {} for another type is refused (415), not let through', async () => {
  const mcp = protectedServer();
  const app = express();
  // What Express 4's json() leaves for a type it does not parse.
  app.use((req, _res, next) => {
    (req as IncomingMessage & { body?: unknown }).body ??= {};
    next();
  });
  let reached = 0;
  app.post('/mcp', mcp.guard, (_req: IncomingMessage, res: ServerResponse) => {
    reached += 1;
    res.end('{}');
  });
  const token = await userToken();
  const refused = await request(app)
    .post('/mcp')
    .set('authorization', `Bearer ${token}`)
    .set('content-type', 'text/plain; x=application/json')
    .send('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_orders"}}');
  expect(refused.status).toBe(415);
  expect(refused.body).toMatchObject({ code: 'unsupported_media_type' });
  expect(reached).toBe(0);
  // Positive control: the same call as JSON reaches the transport.
  const allowed = await request(app)
    .post('/mcp')
    .set('authorization', `Bearer ${token}`)
    .set('content-type', 'application/json')
    .send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_orders' } });
  expect(allowed.status).toBe(200);
  expect(reached).toBe(1);
});
