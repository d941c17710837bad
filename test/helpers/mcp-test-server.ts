// The MCP test server for protectMcp()'s guard tests: the SDK's McpServer and Streamable HTTP
// transport on 127.0.0.1 behind the guard (after express.json(), or on bare node:http), with a
// few counted tools, plus the small request helpers the guard tests share (JSON-RPC messages,
// a POST as an MCP client sends it, session opening, audit-event summaries, raw node:http POSTs).
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
  type Identity,
} from 'express-identity-passthrough';
import {
  identityOfAuthInfo,
  protectMcp,
  type McpOptions,
  type ProtectedMcp,
} from 'express-identity-passthrough/mcp';
import type { TestIssuer } from './test-issuer.js';

/** The OAuth client the test issuer's tokens are issued to. */
export const CLIENT_ID = 'mcp-test-client';
export const BOB = {
  sub: 'user-bob',
  preferred_username: 'bob',
  email: 'bob@example.com',
  name: 'Bob',
};
export const ACCEPT = 'application/json, text/event-stream';

/** What the `whoami` tool saw of its caller, kept on the server side. */
export interface ToolView {
  readonly authInfo: AuthInfo | undefined;
  readonly identity: unknown;
  readonly current: Identity | undefined;
  readonly fromAuthInfo: Identity | undefined;
  readonly mayCallAdmin: boolean;
}

export interface McpFixture {
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

export type Mount = 'express' | 'node';
export type Configure = (resource: string) => Omit<McpOptions, 'resource'>;

/**
 * An MCP server protected by protectMcp() for the enclosing describe block: the options come
 * from `configure` once the URL is known (the resource names the port). Audit events go to a
 * memory sink unless `configure` gives its own. `node` mounts the guard on node:http with no
 * body parser; `express` after express.json(), as the example does.
 */
export function useMcpServer(configure: Configure, mount: Mount = 'express'): McpFixture {
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

export const initialize = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'guard-test-client', version: '1.0.0' },
  },
});
export const callTool = (name: string, id: number | string = 2) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {} },
});
export const rpc = (method: string, id = 3) => ({ jsonrpc: '2.0', id, method, params: {} });

/**
 * Signs user tokens with `idp` for a fixture's resource, as the test client: the returned
 * `tokenFor(fixture, claims)` gives alice a token with the `mcp:tools` scope; `claims` override.
 */
export function mcpTokenFor(idp: TestIssuer) {
  return (fixture: McpFixture, claims: Record<string, unknown> = {}): Promise<string> =>
    idp.sign({ aud: fixture.url, client_id: CLIENT_ID, scope: 'mcp:tools', ...claims });
}

/** A JSON-RPC POST as an MCP client sends it. */
export function post(
  fixture: McpFixture,
  token: string | undefined,
  body: unknown,
  sessionId?: string,
) {
  let req = request(fixture.server)
    .post('/mcp')
    .set('accept', ACCEPT)
    .set('content-type', 'application/json');
  if (token !== undefined) req = req.set('authorization', `Bearer ${token}`);
  if (sessionId !== undefined) req = req.set('mcp-session-id', sessionId);
  return req.send(JSON.stringify(body));
}

/** Opens an MCP session (initialize, then notifications/initialized); returns its id. */
export async function openSession(fixture: McpFixture, token: string): Promise<string> {
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
export const summary = (event: AuditEvent | undefined) =>
  event === undefined
    ? undefined
    : {
        action: event.action,
        resource: event.resource,
        user: event.user,
        outcome: event.outcome,
        reason: event.reason,
      };

export const metadataUrlOf = (fixture: McpFixture) =>
  `${fixture.origin}/.well-known/oauth-protected-resource/mcp`;

export const toolText = (body: unknown) =>
  ((body as { result?: { content?: { text?: string }[] } }).result?.content ?? [])
    .map((part) => part.text ?? '')
    .join('');

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/**
 * A POST through node:http, for what supertest cannot send: a header given twice (headers are
 * name/value pairs, sent as they are), or a body in 512-byte chunks with no Content-Length.
 */
export function rawPost(
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
