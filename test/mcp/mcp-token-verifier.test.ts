// protectMcp().verifier behind the MCP SDK's own requireBearerAuth(), on Express, with tokens
// from a real oidc-provider issued for this server (RFC 8707): a user's token passes, a
// client-credentials token is refused as the SDK can say it (401 invalid_token), and an outage
// is the SDK's 500, never a 401. Each verification is one audit event.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createMemoryAuditSink, type AuditEvent } from 'express-identity-passthrough';
import {
  identityOfAuthInfo,
  protectMcp,
  type ProtectedMcp,
} from 'express-identity-passthrough/mcp';
import { clientCredentialsTokenFor, userTokenFor } from '../helpers/mcp-client.js';
import { API_AUDIENCE, startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';

let idp: OidcIdp;
let server: Server;
let url: string;
let mcp: ProtectedMcp;
/** The same server's verifier, with a JWKS URL where nothing listens. */
let unreachable: ProtectedMcp;
const audit = createMemoryAuditSink();
const outageAudit = createMemoryAuditSink();

/** An endpoint behind the SDK's middleware that answers with what it saw in req.auth. */
function appFor(protectedMcp: ProtectedMcp) {
  const app = express();
  app.post(
    '/mcp',
    requireBearerAuth({
      verifier: protectedMcp.verifier,
      resourceMetadataUrl: protectedMcp.metadataUrl,
      expectedResource: new URL(url),
    }),
    (req, res) => {
      const auth = (req as { auth?: AuthInfo }).auth;
      res.json({
        clientId: auth?.clientId,
        scopes: auth?.scopes,
        expiresAt: auth?.expiresAt,
        resource: auth?.resource?.href,
        username: identityOfAuthInfo(auth)?.username,
        tokenIsTheBearer: auth?.token === req.get('authorization')?.slice('Bearer '.length),
      });
    },
  );
  return app;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
let outageApp: ReturnType<typeof appFor>;

beforeAll(async () => {
  idp = await startOidcProvider();
  server = createServer((req, res) => {
    if (handler === undefined) res.writeHead(503).end();
    else handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  idp.addResourceServer(url, { scope: 'mcp:tools' });
  mcp = protectMcp({ resource: url, issuer: idp.issuer, jwksUri: idp.jwksUri, audit });
  unreachable = protectMcp({
    resource: url,
    issuer: idp.issuer,
    jwksUri: `http://127.0.0.1:${await closedPort()}/jwks`,
    jwksTimeoutMs: 1_000,
    audit: outageAudit,
  });
  handler = appFor(mcp);
  outageApp = appFor(unreachable);
}, 60_000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await idp.stop();
});

const summary = (event: AuditEvent | undefined) =>
  event === undefined
    ? undefined
    : {
        action: event.action,
        resource: event.resource,
        user: event.user,
        outcome: event.outcome,
        reason: event.reason,
      };

test("a user's token for this server passes, and the handler sees req.auth", async () => {
  const { access_token: token } = await userTokenFor(idp, 'alice', url, 'mcp:tools');
  const res = await request(server).post('/mcp').set('authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    clientId: idp.clientId,
    scopes: ['mcp:tools'],
    expiresAt: expect.any(Number) as unknown,
    resource: url,
    username: 'alice',
    tokenIsTheBearer: true,
  });
  const { expiresAt } = res.body as { expiresAt: number };
  expect(expiresAt).toBeGreaterThan(Date.now() / 1000);
  expect(expiresAt).toBeLessThan(Date.now() / 1000 + 400);
  expect(summary(audit.events.at(-1))).toEqual({
    action: 'authenticate',
    resource: 'POST /mcp',
    user: 'alice',
    outcome: 'allowed',
    reason: 'ok',
  });
  expect(audit.events.at(-1)?.actor).toBe(idp.clientId);
  expect(JSON.stringify(audit.events)).not.toContain(token);
});

test('a client-credentials token is refused with 401 invalid_token, audited as service_account_refused', async () => {
  const { access_token: token } = await clientCredentialsTokenFor(idp, url, 'mcp:tools');
  const res = await request(server).post('/mcp').set('authorization', `Bearer ${token}`);
  expect(res.status).toBe(401);
  expect(res.body).toEqual({
    error: 'invalid_token',
    error_description: expect.stringMatching(/service account or application/) as unknown,
  });
  expect(res.headers['www-authenticate']).toMatch(
    new RegExp(
      `^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${mcp.metadataUrl.replace(/[.]/g, '\\.')}"$`,
    ),
  );
  expect(audit.events.at(-1)).toMatchObject({
    action: 'authenticate',
    resource: 'POST /mcp',
    outcome: 'denied',
    reason: 'service_account_refused',
    kind: 'service',
  });
  expect(JSON.stringify(audit.events)).not.toContain(token);
});

test('a token for another resource is refused with 401 invalid_token', async () => {
  const { access_token: token } = await userTokenFor(idp, 'alice', API_AUDIENCE, 'assistant:chat');
  const res = await request(server).post('/mcp').set('authorization', `Bearer ${token}`);
  expect(res.status).toBe(401);
  expect((res.body as { error?: string }).error).toBe('invalid_token');
  expect(summary(audit.events.at(-1))).toEqual({
    action: 'authenticate',
    resource: 'POST /mcp',
    user: null,
    outcome: 'denied',
    reason: 'token_audience_invalid',
  });
});

test("a JWKS outage is the SDK's 500 (server_error), not a 401", async () => {
  const { access_token: token } = await userTokenFor(idp, 'alice', url, 'mcp:tools');
  handler = outageApp;
  try {
    const res = await request(server).post('/mcp').set('authorization', `Bearer ${token}`);
    expect(res.status).toBe(500);
    expect((res.body as { error?: string }).error).toBe('server_error');
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|fetch failed|127\.0\.0\.1/);
    expect(summary(outageAudit.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'POST /mcp',
      user: null,
      outcome: 'error',
      reason: 'identity_provider_unavailable',
    });
  } finally {
    handler = appFor(mcp);
  }
  // Positive control: the same token where the keys can be fetched.
  expect((await request(server).post('/mcp').set('authorization', `Bearer ${token}`)).status).toBe(
    200,
  );
});
