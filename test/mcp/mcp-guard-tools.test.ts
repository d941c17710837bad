// protectMcp()'s guard in front of a real MCP server (test/helpers/mcp-test-server.ts), with tokens
// from a real JWKS issuer and a real oidc-provider for client-credentials tokens: what a tool
// sees of its caller (AuthInfo, identity, mayCall()), and tools opened to service accounts.
import { expectRefusal } from '../helpers/http.js';
import { clientCredentialsTokenFor, userTokenFor } from '../helpers/mcp-client.js';
import {
  BOB,
  CLIENT_ID,
  callTool,
  initialize,
  mcpTokenFor,
  openSession,
  post,
  rpc,
  summary,
  toolText,
  useMcpServer,
} from '../helpers/mcp-test-server.js';
import { startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();
const tokenFor = mcpTokenFor(idp);

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
