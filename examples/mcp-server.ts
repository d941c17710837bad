// An MCP server (Streamable HTTP, @modelcontextprotocol/sdk) whose tools read company data as the
// person who signed in at the identity provider, never as a shared account:
// - it is an OAuth 2.0 resource server: tokens must be issued for MCP_RESOURCE (RFC 8707), the
//   401 challenge points MCP clients to its metadata (RFC 9728), and from there to the IdP;
// - `query_orders` reads a DreamFactory-style data API with a short-lived token minted for that
//   API alone (the user as `sub`, this server as `act`): the MCP client's own token never leaves
//   (the MCP specification forbids passing it through);
// - every tool call is one audit event naming the user, the tool and the MCP client.
//
// At the IdP: register MCP_RESOURCE as an API (Entra ID: an Application ID URI; Okta: an
// authorization server audience; Keycloak: an audience mapper) with the scope `orders:read`.
//
//   MCP_RESOURCE=https://mcp.company.com/mcp OIDC_ISSUER=https://login.company.com/ \
//   OIDC_JWKS_URI=https://login.company.com/.well-known/jwks.json \
//   DATA_API_ORIGIN=https://data.company.com SESSION_KEY_FILE=mcp-es256.pem \
//   npx tsx examples/mcp-server.ts
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import {
  createPassthrough,
  createSessionTokens,
  dreamFactory,
  getCurrentIdentity,
  isIdentityError,
  jwksRoute,
  mintStrategy,
  type AuditSink,
  type MappingConfig,
} from 'express-identity-passthrough';
import { protectMcp, type ProtectedMcp } from 'express-identity-passthrough/mcp';

export interface McpServerOptions {
  /** This MCP server's URL, e.g. `https://mcp.company.com/mcp`: the audience of its tokens. */
  resource: string;
  /** The identity provider that issues tokens for it. */
  issuer: string;
  jwksUri: string;
  /** The data API (DreamFactory's `/api/v2/{service}/_table/{table}`). */
  dataApi: { origin: string; audience: string; apiKey: string };
  /** Keys that sign the tokens minted for the data API (published at /.well-known/jwks.json). */
  signingKeys: Parameters<typeof createSessionTokens>[0]['signingKeys'];
  mapping?: MappingConfig;
  audit?: AuditSink;
}

export interface McpServerApp {
  app: Express;
  mcp: ProtectedMcp;
  /** Closes every open MCP session. */
  close(): Promise<void>;
}

export function createMcpServerApp(options: McpServerOptions): McpServerApp {
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const mcp = protectMcp({
    resource: options.resource,
    issuer: options.issuer,
    jwksUri: options.jwksUri,
    scopesSupported: ['orders:read'],
    tools: {
      query_orders: { scopes: ['orders:read'] },
      sales_report: { scopes: ['orders:read'], roles: ['sales_readonly'] },
    },
    ...(options.mapping === undefined ? {} : { mapping: options.mapping }),
    ...audit,
  });
  // Tokens for the data API: its own audience, the user as subject, this server as actor.
  const minted = createSessionTokens({
    issuer: new URL(options.resource).origin,
    signingKeys: options.signingKeys,
  });
  const passthrough = createPassthrough({
    upstreams: {
      data: {
        origin: options.dataApi.origin,
        audience: options.dataApi.audience,
        headers: { 'X-DreamFactory-API-Key': options.dataApi.apiKey },
        strategy: mintStrategy({ tokens: minted, agent: 'mcp-orders-server' }),
      },
    },
    ...audit,
  });
  const orders = dreamFactory(passthrough, { baseUrl: options.dataApi.origin });

  async function buildServer(): Promise<McpServer> {
    const server = new McpServer({ name: 'orders', version: '1.0.0' });
    server.registerTool(
      'query_orders',
      {
        description: "The signed-in user's orders, optionally by status.",
        inputSchema: { status: z.enum(['open', 'shipped']).optional() },
      },
      async ({ status }) => {
        const query = status === undefined ? {} : { filter: `(status = '${status}')` };
        const rows = await orders.getRecords('db', 'orders', query);
        return { content: [{ type: 'text', text: JSON.stringify(rows) }] };
      },
    );
    // Only for those who may call it: other users do not see it in tools/list.
    if (await mcp.mayCall('sales_report')) {
      server.registerTool(
        'sales_report',
        { description: 'Open orders of the sales team.' },
        () => ({
          content: [{ type: 'text', text: `Report for ${getCurrentIdentity()?.username}` }],
        }),
      );
    }
    // A tool that fetches a URL it is given: what a prompt injection would aim at. The
    // passthrough sends the user's credential only to the allow-listed data API.
    server.registerTool(
      'fetch_attachment',
      { description: 'Fetches an attachment by URL.', inputSchema: { url: z.string() } },
      async ({ url }) => {
        try {
          const answer = await passthrough.fetch(url);
          return { content: [{ type: 'text', text: await answer.text() }] };
        } catch (error) {
          const text = isIdentityError(error) ? `${error.code}: ${error.message}` : 'failed';
          return { content: [{ type: 'text', text }], isError: true };
        }
      },
    );
    return server;
  }

  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const app = express();
  app.use(mcp.metadata);
  app.get('/.well-known/jwks.json', jwksRoute(minted));
  app.all('/mcp', express.json({ limit: '4mb' }), mcp.guard, (req, res, next) => {
    const sessionId = req.get('mcp-session-id');
    const open = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (open !== undefined) {
      open.handleRequest(req, res, req.body).catch(next);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      res.status(400).json({ error: 'Start a session with an initialize request.' });
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      // Binds the session to the user who opens it; the guard holds every later request to it.
      sessionIdGenerator: mcp.sessionIdGenerator,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    buildServer()
      .then((server) => server.connect(transport))
      .then(() => transport.handleRequest(req, res, req.body))
      .catch(next);
  });
  return {
    app,
    mcp,
    async close() {
      await Promise.all([...sessions.values()].map((transport) => transport.close()));
    },
  };
}

/** Reads the settings from the environment, failing at startup with the variable's name. */
function fromEnvironment(env: NodeJS.ProcessEnv): McpServerOptions {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '')
      throw new Error(`set the ${name} environment variable`);
    return value;
  };
  return {
    resource: required('MCP_RESOURCE'),
    issuer: required('OIDC_ISSUER'),
    jwksUri: required('OIDC_JWKS_URI'),
    dataApi: {
      origin: required('DATA_API_ORIGIN'),
      audience: env['DATA_API_AUDIENCE'] ?? 'dreamfactory-api',
      apiKey: required('DATA_API_KEY'),
    },
    signingKeys: [{ privateKey: readFileSync(required('SESSION_KEY_FILE'), 'utf8') }],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = fromEnvironment(process.env);
  const { app, mcp } = createMcpServerApp(options);
  await mcp.warm();
  const port = Number(process.env['PORT'] ?? 3000);
  app.listen(port, () => {
    console.log(`MCP server on ${options.resource} (metadata: ${mcp.metadataUrl})`);
  });
}
