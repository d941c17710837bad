// protectMcp()'s guard in front of a real MCP server (the SDK's McpServer and Streamable HTTP
// transport) on 127.0.0.1, with tokens from a real JWKS issuer (and a real oidc-provider for
// client-credentials tokens): what a tool sees of its caller, and each refusal beside the request
// it lets through, asserted as status, body code, challenge and audit event together.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import {
  createMemoryAuditSink,
  getCurrentIdentity,
  type AuditEvent,
  type AuditSink,
  type Identity,
} from 'express-identity-passthrough';
import {
  identityOfAuthInfo,
  protectMcp,
  type McpOptions,
  type ProtectedMcp,
} from 'express-identity-passthrough/mcp';
import { expectRefusal } from '../helpers/http.js';
import { clientCredentialsTokenFor, userTokenFor } from '../helpers/mcp-client.js';
import { startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();

/** The OAuth client the test issuer's tokens are issued to. */
const CLIENT_ID = 'mcp-test-client';
const BOB = { sub: 'user-bob', preferred_username: 'bob', email: 'bob@example.com', name: 'Bob' };
const ACCEPT = 'application/json, text/event-stream';

/** What the `whoami` tool saw of its caller, kept on the server side. */
interface ToolView {
  readonly authInfo: AuthInfo | undefined;
  readonly identity: unknown;
  readonly current: Identity | undefined;
  readonly fromAuthInfo: Identity | undefined;
  readonly mayCallAdmin: boolean;
}

interface McpFixture {
  /** The MCP endpoint, which is also the protected resource. */
  readonly url: string;
  readonly origin: string;
  readonly server: Server;
  readonly mcp: ProtectedMcp;
  readonly events: readonly AuditEvent[];
  /** How many times each tool's handler ran. */
  readonly ran: Readonly<Record<string, number>>;
  readonly views: readonly ToolView[];
}

type Mount = 'express' | 'node';
type Configure = (resource: string) => Omit<McpOptions, 'resource'>;

/**
 * An MCP server protected by protectMcp() for the enclosing describe block: the options come
 * from `configure` once the URL is known (the resource names the port). Audit events go to a
 * memory sink unless `configure` gives its own. `node` mounts the guard on node:http with no
 * body parser; `express` after express.json(), as the example does.
 */
function useMcpServer(configure: Configure, mount: Mount = 'express'): McpFixture {
  let live: (McpFixture & { close(): Promise<void> }) | undefined;
  beforeAll(async () => {
    live = await startMcpServer(configure, mount);
  });
  afterAll(async () => {
    await live?.close();
  });
  return new Proxy({} as McpFixture, {
    get(_target, property) {
      if (live === undefined) throw new Error('useMcpServer: the server exists only inside tests');
      return Reflect.get(live, property) as unknown;
    },
  });
}

async function startMcpServer(configure: Configure, mount: Mount) {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${origin}/mcp`;
  const memory = createMemoryAuditSink();
  const mcp = protectMcp({ audit: memory, ...configure(url), resource: url });
  const ran: Record<string, number> = {};
  const views: ToolView[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  async function route(req: IncomingMessage & { body?: unknown }, res: ServerResponse) {
    const sessionId = req.headers['mcp-session-id'];
    const open = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (open !== undefined) {
      await open.handleRequest(req, res, req.body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'no_session' }));
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: mcp.sessionIdGenerator,
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await toolServer(mcp, ran, views).connect(transport);
    await transport.handleRequest(req, res, req.body);
  }

  server.on('request', mount === 'express' ? expressApp(mcp, route) : nodeApp(mcp, route));
  return {
    url,
    origin,
    server,
    mcp,
    events: memory.events,
    ran,
    views,
    async close() {
      await Promise.all([...sessions.values()].map((transport) => transport.close()));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type Route = (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => Promise<void>;

function expressApp(mcp: ProtectedMcp, route: Route) {
  const app = express();
  app.use(mcp.metadata);
  app.all('/mcp', express.json(), mcp.guard, (req, res, next) => {
    route(req, res).catch(next);
  });
  return app;
}

/** The guard on node:http: no framework, no body parser; the guard reads the body itself. */
function nodeApp(mcp: ProtectedMcp, route: Route) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const fail = (error: unknown) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    };
    mcp.metadata(req, res, () => {
      if ((req.url ?? '/').split('?', 1)[0] !== '/mcp') {
        res.writeHead(404).end();
        return;
      }
      mcp.guard(req, res, (error) => {
        if (error === undefined) route(req, res).catch(fail);
        else fail(error);
      });
    });
  };
}

/** The tools every test server has; each counts its runs, `whoami` also keeps what it saw. */
function toolServer(mcp: ProtectedMcp, ran: Record<string, number>, views: ToolView[]) {
  const server = new McpServer({ name: 'guard-test', version: '1.0.0' });
  const counted = (name: string) => () => {
    ran[name] = (ran[name] ?? 0) + 1;
    return { content: [{ type: 'text' as const, text: `${name} ran` }] };
  };
  server.registerTool('whoami', { description: 'Who the caller is.' }, async (extra) => {
    const { authInfo } = extra;
    const identity = authInfo?.extra?.['identity'];
    views.push({
      authInfo,
      identity,
      current: getCurrentIdentity(),
      fromAuthInfo: identityOfAuthInfo(authInfo),
      mayCallAdmin: await mcp.mayCall('admin_report'),
    });
    // What a careless tool might hand back to the model: all it knows of the caller but the
    // token field itself.
    const text = JSON.stringify({
      identity: getCurrentIdentity(),
      extra: authInfo?.extra,
      clientId: authInfo?.clientId,
      scopes: authInfo?.scopes,
    });
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('count', { description: 'Counts its calls.' }, counted('count'));
  server.registerTool('admin_report', { description: 'Admins only.' }, counted('admin_report'));
  server.registerTool(
    'service_tool',
    { description: 'Open to services.' },
    counted('service_tool'),
  );
  server.registerResource('orders', 'orders://all', { description: 'All orders.' }, () => ({
    contents: [{ uri: 'orders://all', text: '[]' }],
  }));
  return server;
}

// ---- requests ----

const initialize = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'guard-test-client', version: '1.0.0' },
  },
});
const callTool = (name: string, id: number | string = 2) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
});
const rpc = (method: string, id = 3) => ({ jsonrpc: '2.0', id, method, params: {} });

/** A user token from the test issuer for the fixture's resource; `claims` override. */
function tokenFor(fixture: McpFixture, claims: Record<string, unknown> = {}): Promise<string> {
  return idp.sign({ aud: fixture.url, client_id: CLIENT_ID, scope: 'mcp:tools', ...claims });
}

/** A JSON-RPC POST as an MCP client sends it. */
function post(fixture: McpFixture, token: string | undefined, body: unknown, sessionId?: string) {
  let req = request(fixture.server)
    .post('/mcp')
    .set('accept', ACCEPT)
    .set('content-type', 'application/json');
  if (token !== undefined) req = req.set('authorization', `Bearer ${token}`);
  if (sessionId !== undefined) req = req.set('mcp-session-id', sessionId);
  return req.send(JSON.stringify(body));
}

/** Opens an MCP session (initialize, then notifications/initialized); returns its id. */
async function openSession(fixture: McpFixture, token: string): Promise<string> {
  const opened = await post(fixture, token, initialize());
  expect(opened.status).toBe(200);
  const sessionId = opened.headers['mcp-session-id'];
  if (typeof sessionId !== 'string') throw new Error('the server opened no session');
  const ready = await post(
    fixture,
    token,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    sessionId,
  );
  expect(ready.status).toBe(202);
  return sessionId;
}

/** The fields of an audit event a test asserts. */
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

const metadataUrlOf = (fixture: McpFixture) =>
  `${fixture.origin}/.well-known/oauth-protected-resource/mcp`;

const toolText = (body: unknown) =>
  ((body as { result?: { content?: { text?: string }[] } }).result?.content ?? [])
    .map((part) => part.text ?? '')
    .join('');

interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/**
 * A POST through node:http, for what supertest cannot send: a header given twice (headers are
 * name/value pairs, sent as they are), or a body in 512-byte chunks with no Content-Length.
 */
function rawPost(
  fixture: McpFixture,
  headers: readonly (readonly [string, string])[],
  body: string,
  { chunked = false } = {},
): Promise<RawResponse> {
  // Given as a list, headers are sent as they are: Node adds neither Host nor Content-Length.
  const pairs: (readonly [string, string])[] = [
    ['host', new URL(fixture.url).host],
    ['accept', ACCEPT],
    ['content-type', 'application/json'],
    chunked
      ? ['transfer-encoding', 'chunked']
      : ['content-length', String(Buffer.byteLength(body))],
    ...headers,
  ];
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      fixture.url,
      { method: 'POST', headers: pairs.flat(), timeout: 5_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text === '' ? undefined : JSON.parse(text),
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 5 seconds')));
    // The server may answer and close before the whole body is written: that is the point.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    if (!chunked) {
      req.end(body);
      return;
    }
    for (let offset = 0; offset < body.length; offset += 512) {
      req.write(body.slice(offset, offset + 512));
    }
    req.end();
  });
}

// ---- what a tool sees ----

describe('inside a tool handler', () => {
  const fixture = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    tools: { admin_report: { roles: ['admin'] } },
  }));

  test('extra.authInfo, extra.identity, getCurrentIdentity() and identityOfAuthInfo() name the caller', async () => {
    const exp = Math.floor(Date.now() / 1000) + 240;
    const token = await tokenFor(fixture, { exp, scope: 'mcp:tools orders:read' });
    const sessionId = await openSession(fixture, token);
    const before = fixture.views.length;
    const called = await post(fixture, token, callTool('whoami'), sessionId);
    expect(called.status).toBe(200);

    expect(fixture.views.length).toBe(before + 1);
    const view = fixture.views.at(-1)!;
    expect(view.authInfo).toMatchObject({
      token,
      clientId: CLIENT_ID,
      scopes: ['mcp:tools', 'orders:read'],
      expiresAt: exp,
    });
    expect(view.authInfo?.resource).toBeInstanceOf(URL);
    expect(view.authInfo?.resource?.href).toBe(fixture.url);
    expect(view.identity).toMatchObject({
      subject: 'user-alice',
      issuer: idp.issuer,
      username: 'alice',
      clientId: CLIENT_ID,
      kind: 'user',
    });
    expect(view.current).toBe(view.identity);
    expect(view.fromAuthInfo).toBe(view.identity);
    expect(view.mayCallAdmin).toBe(false);

    // The token is the tool's to use on the server side; nothing sent back or audited holds it.
    expect(toolText(called.body)).toContain('"username":"alice"');
    expect(JSON.stringify(called.body)).not.toContain(token);
    expect(JSON.stringify(fixture.events)).not.toContain(token);
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'whoami',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
    expect(fixture.events.at(-1)?.actor).toBe(CLIENT_ID);
  });

  test("mayCall() inside a tool answers for the current caller's roles", async () => {
    const admin = await tokenFor(fixture, { roles: ['admin'] });
    const sessionId = await openSession(fixture, admin);
    expect((await post(fixture, admin, callTool('whoami'), sessionId)).status).toBe(200);
    expect(fixture.views.at(-1)?.mayCallAdmin).toBe(true);
    // Negative beside it: the tool itself is refused to a caller without the role.
    const user = await tokenFor(fixture);
    const userSession = await openSession(fixture, user);
    const refused = await post(fixture, user, callTool('admin_report'), userSession);
    expectRefusal(refused, { status: 403, code: 'role_missing' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'admin_report',
      user: 'alice',
      outcome: 'denied',
      reason: 'role_missing',
    });
    expect(fixture.ran['admin_report'] ?? 0).toBe(0);
  });

  test('a tool that edits extra.authInfo.resource changes nothing for later requests of any user', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    expect((await post(fixture, token, callTool('whoami'), sessionId)).status).toBe(200);
    const resource = fixture.views.at(-1)?.authInfo?.resource;
    if (resource === undefined) throw new Error('the tool saw no resource');
    // A tool deriving a URL from the one it was given, as URL objects invite.
    resource.pathname = '/mcp/reports';
    try {
      // Another user, a new session, a token for this server: nothing to do with that tool.
      const other = await post(fixture, await tokenFor(fixture, BOB), initialize());
      expect({ status: other.status, code: (other.body as { code?: string }).code }).toEqual({
        status: 200,
        code: undefined,
      });
    } finally {
      resource.pathname = '/mcp';
    }
  });
});

// ---- the identity provider down ----

describe('with the JWKS endpoint down', () => {
  let closedPort = 0;
  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  const down = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: `http://127.0.0.1:${closedPort}/jwks.json`,
    jwksTimeoutMs: 1_000,
  }));
  const up = useMcpServer(() => ({ issuer: idp.issuer, jwksUri: idp.jwksUri }));

  test('a valid token gets 503 identity_provider_unavailable, never a 401, audited as an error', async () => {
    const refused = await post(down, await tokenFor(down), initialize());
    expectRefusal(refused, { status: 503, code: 'identity_provider_unavailable' });
    expect(summary(down.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'POST /mcp',
      user: null,
      outcome: 'error',
      reason: 'identity_provider_unavailable',
    });
    // Positive control: the same kind of token where the keys can be fetched.
    expect((await post(up, await tokenFor(up), initialize())).status).toBe(200);
  });
});

// ---- audiences ----

describe('a token that also names another audience', () => {
  const OTHER = 'https://other-api.example.com';
  const strict = useMcpServer(() => ({ issuer: idp.issuer, jwksUri: idp.jwksUri }));
  const lenient = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    acceptTokensForOtherAudiences: true,
  }));

  test('is refused by default (401 token_audience_invalid with the metadata URL)', async () => {
    const token = await tokenFor(strict, { aud: [strict.url, OTHER] });
    const refused = await post(strict, token, initialize());
    expectRefusal(refused, {
      status: 401,
      code: 'token_audience_invalid',
      bearerError: 'invalid_token',
    });
    expect(refused.headers['www-authenticate']).toContain(
      `resource_metadata="${metadataUrlOf(strict)}"`,
    );
    expect(summary(strict.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'POST /mcp',
      user: null,
      outcome: 'denied',
      reason: 'token_audience_invalid',
    });
    // Positive control: a token for this server alone.
    expect(
      (await post(strict, await tokenFor(strict, { aud: [strict.url] }), initialize())).status,
    ).toBe(200);
  });

  test('is accepted with acceptTokensForOtherAudiences: true', async () => {
    const token = await tokenFor(lenient, { aud: [lenient.url, OTHER] });
    const sessionId = await openSession(lenient, token);
    const called = await post(lenient, token, callTool('count'), sessionId);
    expect(called.status).toBe(200);
    expect(lenient.ran['count']).toBe(1);
    expect(summary(lenient.events.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'count',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
  });
});

// ---- service accounts ----

describe('a tool with dangerouslyAllowServiceAccounts', () => {
  let oidc: OidcIdp;
  beforeAll(async () => {
    oidc = await startOidcProvider();
  }, 60_000);
  afterAll(async () => {
    await oidc.stop();
  });
  const fixture = useMcpServer(() => ({
    issuer: oidc.issuer,
    jwksUri: oidc.jwksUri,
    tools: { service_tool: { dangerouslyAllowServiceAccounts: true } },
  }));
  let service: string;
  let user: string;
  beforeAll(async () => {
    oidc.addResourceServer(fixture.url, { scope: 'mcp:tools' });
    service = (await clientCredentialsTokenFor(oidc, fixture.url, 'mcp:tools')).access_token;
    user = (await userTokenFor(oidc, 'alice', fixture.url, 'mcp:tools')).access_token;
  });

  test('a client-credentials token may open a session, list tools and call that tool', async () => {
    const sessionId = await openSession(fixture, service);
    const listed = await post(fixture, service, rpc('tools/list'), sessionId);
    expect(listed.status).toBe(200);
    const before = fixture.ran['service_tool'] ?? 0;
    const called = await post(fixture, service, callTool('service_tool'), sessionId);
    expect(called.status).toBe(200);
    expect(toolText(called.body)).toBe('service_tool ran');
    expect(fixture.ran['service_tool']).toBe(before + 1);
    // A client-credentials token names the client as its subject: the "user" is the client.
    expect(fixture.events.at(-1)).toMatchObject({
      action: 'tools/call',
      resource: 'service_tool',
      user: oidc.clientId,
      outcome: 'allowed',
      reason: 'ok',
      kind: 'service',
    });
  });

  test('the same token is refused (403 service_account_refused) on another tool', async () => {
    const sessionId = await openSession(fixture, service);
    const refused = await post(fixture, service, callTool('count'), sessionId);
    expectRefusal(refused, { status: 403, code: 'service_account_refused' });
    expect(fixture.events.at(-1)).toMatchObject({
      action: 'tools/call',
      resource: 'count',
      user: oidc.clientId,
      outcome: 'denied',
      reason: 'service_account_refused',
      kind: 'service',
    });
    expect(fixture.ran['count'] ?? 0).toBe(0);
    // Positive control: a user calls it.
    const userSession = await openSession(fixture, user);
    expect((await post(fixture, user, callTool('count'), userSession)).status).toBe(200);
    expect(fixture.ran['count']).toBe(1);
  });

  test('and on resources/list', async () => {
    const sessionId = await openSession(fixture, service);
    const refused = await post(fixture, service, rpc('resources/list'), sessionId);
    expectRefusal(refused, { status: 403, code: 'service_account_refused' });
    expect(fixture.events.at(-1)).toMatchObject({
      action: 'resources/list',
      resource: 'resources/list',
      user: oidc.clientId,
      outcome: 'denied',
      reason: 'service_account_refused',
      kind: 'service',
    });
    const userSession = await openSession(fixture, user);
    const listed = await post(fixture, user, rpc('resources/list'), userSession);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).toContain('orders://all');
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'resources/list',
      resource: 'resources/list',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
  });
});

// ---- batches ----

describe('a JSON-RPC batch', () => {
  const fixture = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    tools: { admin_report: { roles: ['admin'] } },
  }));

  test('with one refused tools/call is refused as a whole, and nothing in it runs', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const before = fixture.ran['count'] ?? 0;
    const refused = await post(
      fixture,
      token,
      [callTool('count', 10), callTool('admin_report', 11)],
      sessionId,
    );
    expectRefusal(refused, { status: 403, code: 'role_missing' });
    expect(fixture.ran['count'] ?? 0).toBe(before);
    expect(fixture.ran['admin_report'] ?? 0).toBe(0);
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'admin_report',
      user: 'alice',
      outcome: 'denied',
      reason: 'role_missing',
    });
    // Positive control: the same batch without the refused call runs.
    const allowed = await post(
      fixture,
      token,
      [callTool('count', 12), callTool('whoami', 13)],
      sessionId,
    );
    expect(allowed.status).toBe(200);
    expect(allowed.body).toHaveLength(2);
    expect(fixture.ran['count']).toBe(before + 1);
  });

  test('a refused batch leaves no "allowed" audit event for a call that never ran', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const before = fixture.events.length;
    const refused = await post(
      fixture,
      token,
      [callTool('count', 20), callTool('admin_report', 21)],
      sessionId,
    );
    expect(refused.status).toBe(403);
    const events = fixture.events.slice(before);
    expect(events.filter((event) => event.outcome === 'allowed').map(summary)).toEqual([]);
  });

  test('of more than 100 messages is refused (400) before any of them runs', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const before = fixture.ran['count'] ?? 0;
    const tooMany = Array.from({ length: 101 }, (_, index) => callTool('count', 100 + index));
    const refused = await post(fixture, token, tooMany, sessionId);
    expectRefusal(refused, {
      status: 400,
      code: 'invalid_request',
      bearerError: 'invalid_request',
    });
    expect(fixture.ran['count'] ?? 0).toBe(before);
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'POST /mcp',
      user: 'alice',
      outcome: 'denied',
      reason: 'invalid_request',
    });
    // Positive control: 100 messages are one batch too.
    const hundred = Array.from({ length: 100 }, (_, index) => callTool('count', 300 + index));
    const allowed = await post(fixture, token, hundred, sessionId);
    expect(allowed.status).toBe(200);
    expect(fixture.ran['count']).toBe(before + 100);
  });
});

// ---- bodies ----

describe('request bodies, on node:http without a body parser', () => {
  const MAX = 2_048;
  const fixture = useMcpServer(
    () => ({ issuer: idp.issuer, jwksUri: idp.jwksUri, maxBodyBytes: MAX }),
    'node',
  );

  test('a tools/call goes through: the guard reads and parses the body itself', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const called = await post(fixture, token, callTool('count'), sessionId);
    expect(called.status).toBe(200);
    expect(toolText(called.body)).toBe('count ran');
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'count',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
  });

  test('a body over maxBodyBytes is refused (413 request_too_large)', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const before = fixture.ran['count'] ?? 0;
    const big = {
      ...callTool('count'),
      params: { name: 'count', arguments: { pad: 'x'.repeat(MAX) } },
    };
    const refused = await post(fixture, token, big, sessionId);
    expectRefusal(refused, { status: 413, code: 'request_too_large' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'POST /mcp',
      user: 'alice',
      outcome: 'denied',
      reason: 'request_too_large',
    });
    expect(fixture.ran['count'] ?? 0).toBe(before);
    // Positive control: just under the limit.
    const fits = {
      ...callTool('count'),
      params: { name: 'count', arguments: { pad: 'x'.repeat(MAX - 200) } },
    };
    expect((await post(fixture, token, fits, sessionId)).status).toBe(200);
    expect(fixture.ran['count']).toBe(before + 1);
  });

  test('a chunked body over maxBodyBytes is 413 request_too_large, with its audit event', async () => {
    const token = await tokenFor(fixture);
    const before = fixture.events.length;
    // No Content-Length: the guard learns the size only while reading.
    const big = {
      ...callTool('count'),
      params: { name: 'count', arguments: { pad: 'x'.repeat(MAX) } },
    };
    const refused = await rawPost(
      fixture,
      [['authorization', `Bearer ${token}`]],
      JSON.stringify(big),
      {
        chunked: true,
      },
    );
    expect(refused).toMatchObject({ status: 413, body: { code: 'request_too_large' } });
    expect(fixture.events.slice(before).map(summary)).toEqual([
      {
        action: 'authorize',
        resource: 'POST /mcp',
        user: 'alice',
        outcome: 'denied',
        reason: 'request_too_large',
      },
    ]);
  });

  test('a body that is not application/json is refused (415 unsupported_media_type)', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const refused = await request(fixture.server)
      .post('/mcp')
      .set('accept', ACCEPT)
      .set('authorization', `Bearer ${token}`)
      .set('mcp-session-id', sessionId)
      .set('content-type', 'text/plain')
      .send(JSON.stringify(callTool('count')));
    expectRefusal(refused, { status: 415, code: 'unsupported_media_type' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'POST /mcp',
      user: 'alice',
      outcome: 'denied',
      reason: 'unsupported_media_type',
    });
    // Positive control: the same body as application/json; charset=utf-8.
    const allowed = await request(fixture.server)
      .post('/mcp')
      .set('accept', ACCEPT)
      .set('authorization', `Bearer ${token}`)
      .set('mcp-session-id', sessionId)
      .set('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify(callTool('count')));
    expect(allowed.status).toBe(200);
  });

  test('a body that is not JSON is refused (400 invalid_request)', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const refused = await request(fixture.server)
      .post('/mcp')
      .set('accept', ACCEPT)
      .set('authorization', `Bearer ${token}`)
      .set('mcp-session-id', sessionId)
      .set('content-type', 'application/json')
      .send('{"jsonrpc":"2.0","id":1,"method":');
    expectRefusal(refused, {
      status: 400,
      code: 'invalid_request',
      bearerError: 'invalid_request',
    });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'POST /mcp',
      user: 'alice',
      outcome: 'denied',
      reason: 'invalid_request',
    });
    // Positive control: the same message, whole.
    const whole = await post(fixture, token, callTool('count'), sessionId);
    expect(whole.status).toBe(200);
  });
});

// ---- the audit trail failing ----

/** A sink that fails on demand, and the events its failure handler was given. */
function breakableSink() {
  const state = { broken: false, written: [] as AuditEvent[], failed: [] as AuditEvent[] };
  const sink: AuditSink = {
    log(event) {
      if (state.broken) throw new Error('audit disk full');
      state.written.push(event);
    },
  };
  const onAuditFailure = (_error: unknown, event: AuditEvent) => {
    state.failed.push(event);
  };
  return { state, sink, onAuditFailure };
}

describe('auditFailurePolicy', () => {
  const closed = breakableSink();
  const open = breakableSink();
  const failClosed = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    audit: closed.sink,
    onAuditFailure: closed.onAuditFailure,
    auditFailurePolicy: 'fail-closed',
  }));
  const failOpen = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    audit: open.sink,
    onAuditFailure: open.onAuditFailure,
  }));
  afterEach(() => {
    closed.state.broken = false;
    open.state.broken = false;
  });

  test("'fail-closed': a call that cannot be audited is refused (503 audit_unavailable) and does not run", async () => {
    const token = await tokenFor(failClosed);
    const sessionId = await openSession(failClosed, token);
    closed.state.broken = true;
    const refused = await post(failClosed, token, callTool('count'), sessionId);
    expectRefusal(refused, { status: 503, code: 'audit_unavailable' });
    expect(failClosed.ran['count'] ?? 0).toBe(0);
    // Neither the decision nor the refusal could be written: both reach the failure handler.
    expect(closed.state.failed.map(summary)).toEqual([
      { action: 'tools/call', resource: 'count', user: 'alice', outcome: 'allowed', reason: 'ok' },
      {
        action: 'authorize',
        resource: 'POST /mcp',
        user: 'alice',
        outcome: 'error',
        reason: 'audit_unavailable',
      },
    ]);
    // Positive control: the sink works again, the call runs and is written.
    closed.state.broken = false;
    expect((await post(failClosed, token, callTool('count'), sessionId)).status).toBe(200);
    expect(failClosed.ran['count']).toBe(1);
    expect(summary(closed.state.written.at(-1))).toMatchObject({
      action: 'tools/call',
      resource: 'count',
    });
  });

  test("default ('fail-open'): the call goes on, and the failure handler gets the event", async () => {
    const token = await tokenFor(failOpen);
    const sessionId = await openSession(failOpen, token);
    open.state.broken = true;
    const called = await post(failOpen, token, callTool('count'), sessionId);
    expect(called.status).toBe(200);
    expect(failOpen.ran['count']).toBe(1);
    expect(summary(open.state.failed.at(-1))).toEqual({
      action: 'tools/call',
      resource: 'count',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
  });
});

// ---- sessions ----

describe('the session: GET stream and DELETE', () => {
  const fixture = useMcpServer(() => ({
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    scopesSupported: ['mcp:tools'],
  }));

  /** Opens the GET stream and reads only its status and type; the stream is then dropped. */
  async function openStream(token: string, sessionId: string) {
    const controller = new AbortController();
    try {
      const res = await fetch(fixture.url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          'mcp-session-id': sessionId,
        },
        signal: controller.signal,
      });
      return { status: res.status, type: res.headers.get('content-type') };
    } finally {
      controller.abort();
    }
  }

  test('a GET without a token gets a 401 naming the metadata', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const refused = await request(fixture.server)
      .get('/mcp')
      .set('accept', 'text/event-stream')
      .set('mcp-session-id', sessionId);
    expectRefusal(refused, { status: 401, code: 'credentials_missing', bearerError: null });
    expect(refused.headers['www-authenticate']).toBe(
      `Bearer resource_metadata="${metadataUrlOf(fixture)}", scope="mcp:tools"`,
    );
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'GET /mcp',
      user: null,
      outcome: 'denied',
      reason: 'credentials_missing',
    });
    // Positive control: the owner opens the stream.
    expect(await openStream(token, sessionId)).toEqual({ status: 200, type: 'text/event-stream' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'mcp/open-stream',
      resource: 'GET /mcp',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
  });

  test("bob's token on alice's session is refused (403 mcp_session_forbidden)", async () => {
    const alice = await tokenFor(fixture);
    const bob = await tokenFor(fixture, BOB);
    const sessionId = await openSession(fixture, alice);
    const refused = await request(fixture.server)
      .get('/mcp')
      .set('accept', 'text/event-stream')
      .set('authorization', `Bearer ${bob}`)
      .set('mcp-session-id', sessionId);
    expectRefusal(refused, { status: 403, code: 'mcp_session_forbidden' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'GET /mcp',
      user: 'bob',
      outcome: 'denied',
      reason: 'mcp_session_forbidden',
    });
    const deleted = await request(fixture.server)
      .delete('/mcp')
      .set('authorization', `Bearer ${bob}`)
      .set('mcp-session-id', sessionId);
    expectRefusal(deleted, { status: 403, code: 'mcp_session_forbidden' });
    // Positive control: alice's session is untouched by bob's attempts.
    expect((await post(fixture, alice, callTool('count'), sessionId)).status).toBe(200);
  });

  test('the owner DELETEs the session; a later request on it is 404 mcp_session_unknown', async () => {
    const token = await tokenFor(fixture);
    const sessionId = await openSession(fixture, token);
    const deleted = await request(fixture.server)
      .delete('/mcp')
      .set('authorization', `Bearer ${token}`)
      .set('mcp-session-id', sessionId);
    expect(deleted.status).toBe(200);
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'mcp/end-session',
      resource: 'DELETE /mcp',
      user: 'alice',
      outcome: 'allowed',
      reason: 'ok',
    });
    const after = await post(fixture, token, callTool('count'), sessionId);
    expectRefusal(after, { status: 404, code: 'mcp_session_unknown' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authorize',
      resource: 'POST /mcp',
      user: 'alice',
      outcome: 'denied',
      reason: 'mcp_session_unknown',
    });
  });
});

// ---- where the credential is ----

describe('where the token is sent', () => {
  const fixture = useMcpServer(() => ({ issuer: idp.issuer, jwksUri: idp.jwksUri }));

  test('two Authorization headers are refused (400 multiple_credentials)', async () => {
    const token = await tokenFor(fixture);
    // Node keeps only the first in req.headers; the guard reads both from rawHeaders.
    const refused = await rawPost(
      fixture,
      [
        ['authorization', `Bearer ${token}`],
        ['authorization', `Bearer ${token}`],
      ],
      JSON.stringify(initialize()),
    );
    expect({ status: refused.status, code: (refused.body as { code?: string }).code }).toEqual({
      status: 400,
      code: 'multiple_credentials',
    });
    expect(refused.headers['www-authenticate']).toMatch(
      /^Bearer error="invalid_request", error_description="[^"]+", resource_metadata="([^"]+)"$/,
    );
    expect(refused.headers['www-authenticate']).toContain(
      `resource_metadata="${metadataUrlOf(fixture)}"`,
    );
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'POST /mcp',
      user: null,
      outcome: 'denied',
      reason: 'multiple_credentials',
    });
    // Positive control: one header, through the same client.
    const one = await rawPost(
      fixture,
      [['authorization', `Bearer ${token}`]],
      JSON.stringify(initialize()),
    );
    expect(one.status).toBe(200);
  });

  test('a token in the query string is refused (400 token_in_url) and kept out of the audit', async () => {
    const token = await tokenFor(fixture);
    const refused = await request(fixture.server)
      .post(`/mcp?access_token=${token}`)
      .set('accept', ACCEPT)
      .set('content-type', 'application/json')
      .send(JSON.stringify(initialize()));
    expectRefusal(refused, { status: 400, code: 'token_in_url', bearerError: 'invalid_request' });
    expect(summary(fixture.events.at(-1))).toEqual({
      action: 'authenticate',
      resource: 'POST /mcp',
      user: null,
      outcome: 'denied',
      reason: 'token_in_url',
    });
    expect(JSON.stringify(fixture.events)).not.toContain(token);
  });
});
