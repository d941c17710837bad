// The MCP client fixture, against a minimal MCP resource server built only from the SDK (nothing
// from lib/): RFC 9728 metadata, the SDK's requireBearerAuth with a jose verifier, and a
// stateless Streamable HTTP transport. Also covers the IdP fixture's resource servers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import express from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import {
  clientCredentialsTokenFor,
  connectMcpClient,
  OAuthResponseError,
  rawMcpPost,
  refreshTokenFor,
  userTokenFor,
  type McpClientConnection,
} from './mcp-client.js';
import { DATA_AUDIENCE, startOidcProvider, type OidcIdp } from './oidc-idp.js';

const MCP_SCOPE = 'mcp:tools';
/** Known to the IdP (through the `resourceServers` option), served by no one here. */
const OTHER_MCP = 'https://other-mcp.example.test/mcp';
const OTHER_MCP_TTL_SEC = 60;

interface WhoamiServer {
  /** The MCP endpoint, which is also its RFC 8707 resource indicator. */
  url: string;
  resourceMetadataUrl: string;
  /** Paths of the protected resource metadata requests, in order. */
  readonly metadataRequests: readonly string[];
  close(): Promise<void>;
}

/**
 * An MCP server with one tool, `whoami`, that answers the `sub` of the caller's token. Routes are
 * added once it listens, since its URL (the token audience) carries the port.
 */
async function startWhoamiServer(idp: OidcIdp): Promise<WhoamiServer> {
  const app = express();
  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(new URL(url));
  const metadataRequests: string[] = [];

  const jwks = createRemoteJWKSet(new URL(idp.jwksUri), { timeoutDuration: 2_000 });
  const verifier: OAuthTokenVerifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: idp.issuer,
          audience: url,
          typ: 'at+jwt',
          algorithms: ['RS256'],
        });
        return {
          token,
          clientId: String(payload['client_id']),
          scopes: typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [],
          ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
          resource: new URL(url),
          extra: { sub: payload.sub },
        };
      } catch (error) {
        // An unreachable or garbled JWKS is an outage, not a bad token.
        if (
          !(error instanceof joseErrors.JOSEError) ||
          error instanceof joseErrors.JWKSTimeout ||
          error instanceof joseErrors.JWKSInvalid
        )
          throw new ServerError('token verification is unavailable');
        throw new InvalidTokenError(`token rejected (${error.code})`);
      }
    },
  };
  const bearer = requireBearerAuth({ verifier, requiredScopes: [MCP_SCOPE], resourceMetadataUrl });

  app.get(new URL(resourceMetadataUrl).pathname, (req, res) => {
    metadataRequests.push(req.path);
    res.json({
      resource: url,
      authorization_servers: [idp.issuer],
      scopes_supported: [MCP_SCOPE],
      bearer_methods_supported: ['header'],
    });
  });
  app.post('/mcp', express.json(), bearer, async (req, res) => {
    // Stateless: a server and transport per request, as in the SDK's stateless example.
    const mcp = new McpServer({ name: 'whoami', version: '1.0.0' });
    mcp.registerTool('whoami', { description: "The token's subject" }, (extra) => ({
      content: [{ type: 'text', text: String(extra.authInfo?.extra?.['sub']) }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  // No standalone SSE stream and no sessions to delete in stateless mode.
  app.all('/mcp', bearer, (_req, res) => {
    res.status(405).set('allow', 'POST').end();
  });

  return {
    url,
    resourceMetadataUrl,
    metadataRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'raw-test', version: '1.0.0' },
  },
};
const callWhoami = {
  jsonrpc: '2.0',
  id: 2,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {} },
};

let idp: OidcIdp;
let mcp: WhoamiServer;
const connections: McpClientConnection[] = [];

beforeAll(async () => {
  idp = await startOidcProvider({
    resourceServers: { [OTHER_MCP]: { scope: MCP_SCOPE, ttlSec: OTHER_MCP_TTL_SEC } },
  });
  mcp = await startWhoamiServer(idp);
  idp.addResourceServer(mcp.url, { scope: MCP_SCOPE });
});

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await mcp.close();
  await idp.stop();
});

async function connect(user: 'alice' | 'bob') {
  const connection = await connectMcpClient({ url: mcp.url, idp, user });
  connections.push(connection);
  return connection;
}

async function verified(token: string, audience: string) {
  const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
  const { payload } = await jwtVerify(token, jwks, {
    issuer: idp.issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['RS256'],
  });
  return payload;
}

function whoamiText(result: unknown): unknown {
  return (result as { content: { text?: string }[] }).content[0]?.text;
}

describe('connectMcpClient: the SDK authorization flow against the IdP fixture', () => {
  test('alice: discovery from the 401, code + PKCE + resource, and whoami answers her sub', async () => {
    const before = mcp.metadataRequests.length;
    const { client, authorizationUrl, tokens } = await connect('alice');

    // The SDK found the IdP through the resource metadata named in the 401 challenge.
    expect(mcp.metadataRequests.length).toBeGreaterThan(before);
    expect(authorizationUrl?.origin).toBe(idp.issuer);
    expect(Object.fromEntries(authorizationUrl?.searchParams ?? [])).toMatchObject({
      response_type: 'code',
      client_id: idp.clientId,
      code_challenge_method: 'S256',
      state: expect.any(String),
      // RFC 8707 (the MCP spec requires it), and the scope from the challenge.
      resource: mcp.url,
      scope: MCP_SCOPE,
    });
    expect(idp.tokenRequests.at(-1)).toEqual({ grantType: 'authorization_code' });

    const saved = tokens();
    expect(saved?.issuer).toBe(idp.issuer);
    expect(await verified(saved?.access_token ?? '', mcp.url)).toMatchObject({
      sub: idp.users.alice.sub,
      client_id: idp.clientId,
      scope: MCP_SCOPE,
      preferred_username: 'alice',
      groups: ['Sales-Team', 'AI Users'],
    });

    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(whoamiText(result)).toBe(idp.users.alice.sub);
  });

  test("bob gets bob's sub, on a connection of his own", async () => {
    const { client } = await connect('bob');
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(whoamiText(result)).toBe(idp.users.bob.sub);
  });
});

describe('the MCP server, probed with raw requests', () => {
  test('without a token: 401 naming the resource metadata, which names the IdP', async () => {
    const { status, headers } = await rawMcpPost(mcp.url, undefined, initialize);
    expect(status).toBe(401);
    expect(headers.get('www-authenticate')).toContain(
      `resource_metadata="${mcp.resourceMetadataUrl}"`,
    );
    const metadata = await (await fetch(mcp.resourceMetadataUrl)).json();
    expect(metadata).toMatchObject({ resource: mcp.url, authorization_servers: [idp.issuer] });
  });

  test('a token for another resource is refused with 401 invalid_token', async () => {
    const other = await userTokenFor(idp, 'alice', OTHER_MCP, MCP_SCOPE);
    expect(await verified(other.access_token, OTHER_MCP)).toMatchObject({
      sub: idp.users.alice.sub,
      scope: MCP_SCOPE,
    });
    const api = await userTokenFor(idp, 'alice', idp.apiAudience, 'assistant:chat');

    for (const token of [other.access_token, api.access_token]) {
      const { status, headers } = await rawMcpPost(mcp.url, token, initialize);
      expect(status).toBe(401);
      expect(headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  test('a user token from userTokenFor is accepted; the answer is read from SSE', async () => {
    const { access_token } = await userTokenFor(idp, 'bob', mcp.url, MCP_SCOPE);
    const init = await rawMcpPost(mcp.url, access_token, initialize);
    expect(init.status).toBe(200);
    expect(init.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(init.body).toMatchObject({ id: 1, result: { serverInfo: { name: 'whoami' } } });

    const call = await rawMcpPost(mcp.url, access_token, callWhoami);
    expect(call.body).toMatchObject({
      id: 2,
      result: { content: [{ type: 'text', text: idp.users.bob.sub }] },
    });
  });

  test('a client credentials token is obtainable: app-only, for the MCP server', async () => {
    const { access_token } = await clientCredentialsTokenFor(idp, mcp.url, MCP_SCOPE);
    const payload = await verified(access_token, mcp.url);
    expect(payload).toMatchObject({ sub: idp.clientId, scope: MCP_SCOPE });
    expect(payload['groups']).toBeUndefined();

    // This minimal server accepts app-only tokens; whoami then names the client.
    const call = await rawMcpPost(mcp.url, access_token, callWhoami);
    expect(call.body).toMatchObject({ result: { content: [{ text: idp.clientId }] } });
  });
});

describe('the IdP fixture: resource servers', () => {
  test('refresh keeps the resource: a new JWT for the MCP server, same user and scope', async () => {
    const first = await userTokenFor(idp, 'carol', mcp.url, MCP_SCOPE);
    const refreshed = await refreshTokenFor(idp, first.refresh_token ?? '', mcp.url);
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(await verified(refreshed.access_token, mcp.url)).toMatchObject({
      sub: idp.users.carol.sub,
      scope: MCP_SCOPE,
      email: 'carol@example.test',
    });
  });

  test('scopes the resource does not know stay out; ttlSec sets the lifetime', async () => {
    const { access_token, scope } = await userTokenFor(
      idp,
      'bob',
      OTHER_MCP,
      `${MCP_SCOPE} mcp:admin`,
    );
    expect(scope).toBe(MCP_SCOPE);
    const payload = await verified(access_token, OTHER_MCP);
    expect(payload.scope).toBe(MCP_SCOPE);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(OTHER_MCP_TTL_SEC);
  });

  test('an unknown resource is refused with invalid_target', async () => {
    const unknown = 'https://unknown.example.test/mcp';
    const viaCode = userTokenFor(idp, 'alice', unknown, MCP_SCOPE);
    await expect(viaCode).rejects.toBeInstanceOf(OAuthResponseError);
    await expect(viaCode).rejects.toMatchObject({ error: 'invalid_target', status: undefined });
    await expect(clientCredentialsTokenFor(idp, unknown, MCP_SCOPE)).rejects.toMatchObject({
      error: 'invalid_target',
      status: 400,
    });
  });

  test('addResourceServer refuses a fragment, a relative URI and the built-in audiences', () => {
    const add = (indicator: string) => () => idp.addResourceServer(indicator, { scope: 'x' });
    expect(add('https://mcp.example.test/mcp#a')).toThrow(
      'resource indicator must be an absolute URI without fragment',
    );
    expect(add('/mcp')).toThrow('resource indicator must be an absolute URI without fragment');
    expect(add(DATA_AUDIENCE)).toThrow(`${DATA_AUDIENCE} is built into the fixture`);
    expect(add(idp.apiAudience)).toThrow(`${idp.apiAudience} is built into the fixture`);
    expect(idp.resourceServers).toEqual({
      [OTHER_MCP]: { scope: MCP_SCOPE, ttlSec: OTHER_MCP_TTL_SEC },
      [mcp.url]: { scope: MCP_SCOPE },
    });
  });
});
