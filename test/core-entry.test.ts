// The framework-free entry, used the way an MCP server or a plain node:http service would use
// it, decides, audits and passes through exactly as the Express adapter does for the same
// requests. (The packaging test checks that this entry loads neither Express nor passport.)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import {
  auditedPathOf,
  createAuditTrail,
  createBearerAuthenticator,
  createMemoryAuditSink,
  createPassthrough,
  createRequirementsPolicy,
  credentialParts,
  endRequestScope,
  errorResponse,
  IdentityError,
  isIdentityError,
  RequestAudit,
  requestIdFrom,
  runInRequestScope,
  type AuditEvent,
  type MemoryAuditSink,
  type RequestScope,
} from 'express-identity-passthrough/core';
import { authenticate, identityErrorHandler, requireUser } from '../lib/index.js';
import { closeServers, serve } from './helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';
import { TEST_AUDIENCE, useTestIssuer } from './helpers/test-issuer.js';

const idp = useTestIssuer();
const DATA_AUDIENCE = 'https://data.example.test';
let upstream: RecordingUpstream;

beforeAll(async () => {
  upstream = await createRecordingUpstream();
  upstream.respond((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[{"id":1}]}');
  });
});
afterAll(async () => {
  await closeServers();
  await upstream.close();
});

const issuerOptions = () => ({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri });
const ROUTE_ROLES = { roles: ['sales_readonly'] };
const MAPPING = {
  claim_mapping: { groups: 'roles' },
  role_mapping: { 'Sales-Team': 'sales_readonly' },
};

function passthroughFor(audit: MemoryAuditSink) {
  return createPassthrough({
    upstreams: { data: { origin: upstream.origin, audience: DATA_AUDIENCE } },
    audit,
  });
}

/** The Express adapter: authenticate, requireUser, a route that reads the data API. */
async function expressBackend(audit: MemoryAuditSink) {
  const passthrough = passthroughFor(audit);
  const app = express();
  app.use(authenticate({ ...issuerOptions(), mapping: MAPPING, audit }));
  app.get('/orders', requireUser(ROUTE_ROLES), (_req, res, next) => {
    passthrough
      .fetch(`${upstream.origin}/api/v2/db/_table/orders`)
      .then((answer) => answer.json())
      .then((data) => res.json({ data }), next);
  });
  app.use(identityErrorHandler());
  return serve(app);
}

/** The same backend on node:http with the core entry only. */
async function nodeBackend(audit: MemoryAuditSink) {
  const passthrough = passthroughFor(audit);
  const authenticator = createBearerAuthenticator({ ...issuerOptions(), mapping: MAPPING });
  const policy = createRequirementsPolicy(ROUTE_ROLES);
  const trail = createAuditTrail({ audit });
  const now = Date.now;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdFrom(req.headers);
    res.setHeader('X-Request-Id', requestId);
    const decisions = new RequestAudit(req, (incoming: IncomingMessage) => ({
      method: incoming.method ?? 'GET',
      path: auditedPathOf(incoming.url ?? '/'),
      ip: incoming.socket.remoteAddress,
      requestId,
    }));
    decisions.trail = trail;
    const refuse = (error: unknown): void => {
      const refusal = isIdentityError(error)
        ? error
        : new IdentityError('internal_error', 'Unexpected failure.', { cause: error });
      const { status, headers, body } = errorResponse(refusal, { requestId });
      res.writeHead(status, headers).end(body);
    };
    let identity;
    try {
      identity = await authenticator.authenticate(credentialParts(req));
    } catch (error) {
      const refusal = isIdentityError(error) ? error : undefined;
      await decisions.record({ action: 'authenticate', identity: undefined, error: refusal, now });
      refuse(error);
      return;
    }
    if (identity === undefined) throw new Error('credentials are required');
    await decisions.authenticated(identity, now);
    const refusal = policy.refusal(identity) ?? (await policy.predicateRefusal(identity));
    decisions.supersede();
    await decisions.record({ action: 'authorize', identity, error: refusal, now });
    if (refusal !== undefined) {
      refuse(refusal);
      return;
    }
    const scope: RequestScope = {
      identity,
      requestId,
      ip: req.socket.remoteAddress,
      response: res,
    };
    res.on('close', () => {
      decisions.end();
      endRequestScope(scope);
    });
    await runInRequestScope(scope, async () => {
      const answer = await passthrough.fetch(`${upstream.origin}/api/v2/db/_table/orders`);
      const data: unknown = await answer.json();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => refuseLate(res, error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return { agent, close: () => new Promise((resolve) => server.close(resolve)) };
}

function refuseLate(res: ServerResponse, error: unknown): void {
  if (!res.headersSent && isIdentityError(error)) {
    const { status, headers, body } = errorResponse(error);
    res.writeHead(status, headers).end(body);
  } else res.destroy();
}

// What both servers must agree on, without the per-request values (ids, times, addresses).
function comparable(events: readonly AuditEvent[]) {
  return events.map((event) => ({
    action: event.action,
    outcome: event.outcome,
    reason: event.reason,
    user: event.user,
    resource: event.resource,
    records_returned: event.records_returned,
    roles: event.roles,
  }));
}

const SCENARIOS: readonly (readonly [string, () => Promise<string | undefined>])[] = [
  [
    'a sales user reads the data API',
    () => idp.sign({ sub: 'alice', groups: ['Sales-Team'], aud: [TEST_AUDIENCE, DATA_AUDIENCE] }),
  ],
  ['a user without the role', () => idp.sign({ sub: 'bob', groups: ['Support'] })],
  ['no token', () => Promise.resolve(undefined)],
  ['an expired token', () => idp.sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 })],
  [
    'a service account (client credentials)',
    () => idp.sign({ sub: 'svc', client_id: 'svc', gty: 'client-credentials' }),
  ],
];

describe.each(SCENARIOS)('%s', (_label, token) => {
  test('node:http on the core entry answers, audits and forwards as the Express adapter', async () => {
    const bearer = await token();
    const answers = [];
    const audits: MemoryAuditSink[] = [];
    const forwarded: number[] = [];
    for (const build of [expressBackend, nodeBackend]) {
      const audit = createMemoryAuditSink();
      audits.push(audit);
      const backend = await build(audit);
      const agent = 'agent' in backend ? backend.agent : backend;
      const before = upstream.received.length;
      const call = agent.get('/orders');
      const res = await (bearer === undefined
        ? call
        : call.set('Authorization', `Bearer ${bearer}`));
      forwarded.push(upstream.received.length - before);
      answers.push({
        status: res.status,
        body: res.body as unknown,
        challenge: res.headers['www-authenticate'],
        requestId: typeof res.headers['x-request-id'],
      });
      // The deferred events of a finished response are written when it closes.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if ('close' in backend) await backend.close();
    }
    const [viaExpress, viaNode] = answers;
    expect({ ...viaNode, body: withoutRequestId(viaNode?.body) }).toEqual({
      ...viaExpress,
      body: withoutRequestId(viaExpress?.body),
    });
    expect(comparable(audits[1]?.events ?? [])).toEqual(comparable(audits[0]?.events ?? []));
    expect(forwarded[1]).toBe(forwarded[0]);
    expect(audits[0]?.events.length).toBeGreaterThan(0);
  });
});

test('the scenarios differ: the comparison is not vacuous', async () => {
  const audit = createMemoryAuditSink();
  const agent = await expressBackend(audit);
  const good = await idp.sign({
    sub: 'alice',
    groups: ['Sales-Team'],
    aud: [TEST_AUDIENCE, DATA_AUDIENCE],
  });
  const ok = await agent.get('/orders').set('Authorization', `Bearer ${good}`);
  expect(ok.body).toEqual({ data: { resource: [{ id: 1 }] } });
  const refused = await agent.get('/orders');
  expect(refused.status).toBe(401);
});

function withoutRequestId(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const { request_id: _ignored, ...rest } = body as Record<string, unknown>;
  return { ...rest, request_id: typeof _ignored };
}

describe('the core entry validates what it is given', () => {
  test('errorResponse takes only the package errors; credentialParts only Node requests', () => {
    expect(() => errorResponse(new Error('db password is hunter2') as never)).toThrow(
      /errorResponse: "error" must be an IdentityError/,
    );
    expect(() => credentialParts({ headers: {} } as never)).toThrow(/must be a Node request/);
    expect(() => new RequestAudit({}, 'facts' as never)).toThrow(/"factsOf" must be a function/);
    expect(() => createAuditTrail({ audit: { write: () => undefined } } as never)).toThrow(
      /createAuditTrail: option "audit" must be an audit sink/,
    );
  });

  test('and answers well-formed input: a refusal with its challenge, the parts of a request', () => {
    const refusal = errorResponse(new IdentityError('token_expired', 'Expired.'), {
      requestId: 'r-1',
    });
    expect(refusal.status).toBe(401);
    expect(refusal.headers['WWW-Authenticate']).toContain('error="invalid_token"');
    expect(JSON.parse(refusal.body)).toEqual({
      code: 'token_expired',
      message: 'Expired.',
      request_id: 'r-1',
    });
    const parts = credentialParts({
      method: 'GET',
      url: '/x?y=1',
      headers: { authorization: 'Bearer a' },
      rawHeaders: ['Authorization', 'Bearer a', 'authorization', 'Bearer b'],
    });
    expect(parts.authorization).toEqual(['Bearer a', 'Bearer b']);
    expect(auditedPathOf('/x?token=secret')).toBe('/x');
  });
});
