// The Protected Resource Metadata (RFC 9728) that protectMcp().metadata serves, on node:http:
// where it is served (path-suffixed and root well-known paths), to which methods, with CORS for
// browser-based MCP clients, and what it passes on.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { protectMcp, type ProtectedMcp } from 'express-identity-passthrough/mcp';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
const ISSUER = 'https://login.example.com/';

interface MetadataServer {
  readonly server: Server;
  readonly origin: string;
  readonly mcp: ProtectedMcp;
}

/** Serves `mcp.metadata` on 127.0.0.1, everything else 404; the resource names the port. */
async function serveMetadata(resourceOf: (origin: string) => string): Promise<MetadataServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mcp = protectMcp({
    resource: resourceOf(origin),
    issuer: ISSUER,
    jwksUri: 'https://login.example.com/jwks',
    scopesSupported: ['mcp:tools'],
    resourceName: 'Orders',
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    mcp.metadata(req, res, () => {
      res.writeHead(404).end();
    });
  });
  return { server, origin, mcp };
}

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(
    servers.map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

describe('a resource with a path (/mcp)', () => {
  let at: MetadataServer;
  beforeAll(async () => {
    at = await serveMetadata((origin) => `${origin}/mcp`);
    servers.push(at.server);
  });

  test('GET serves the document at the path-suffixed URL the challenge names, and at the root one', async () => {
    expect(at.mcp.metadataUrl).toBe(`${at.origin}${WELL_KNOWN}/mcp`);
    const expected = {
      resource: `${at.origin}/mcp`,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: 'Orders',
    };
    for (const path of [`${WELL_KNOWN}/mcp`, WELL_KNOWN, `${WELL_KNOWN}/mcp?resource=x`]) {
      const res = await request(at.server).get(path);
      expect({ path, status: res.status, body: res.body as unknown }).toEqual({
        path,
        status: 200,
        body: expected,
      });
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['access-control-allow-origin']).toBe('*');
    }
    expect(at.mcp.resourceMetadata).toEqual(expected);
  });

  test('POST is 405 with the methods allowed', async () => {
    const res = await request(at.server).post(`${WELL_KNOWN}/mcp`).send({});
    expect(res.status).toBe(405);
    expect(res.headers['allow']).toBe('GET, HEAD, OPTIONS');
    expect(res.text).toBe('');
  });

  test('OPTIONS (a CORS preflight) is 204 with the CORS headers', async () => {
    const res = await request(at.server)
      .options(`${WELL_KNOWN}/mcp`)
      .set('origin', 'https://inspector.example.com')
      .set('access-control-request-method', 'GET');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-methods']).toBe('GET, HEAD, OPTIONS');
    expect(res.text).toBe('');
  });

  test('HEAD is 200 with the headers and no body', async () => {
    const res = await fetch(`${at.origin}${WELL_KNOWN}/mcp`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.text()).toBe('');
  });

  test('other paths are passed on', async () => {
    for (const path of [`${WELL_KNOWN}/other`, `${WELL_KNOWN}/mcp/`, '/mcp', '/']) {
      expect({ path, status: (await request(at.server).get(path)).status }).toEqual({
        path,
        status: 404,
      });
    }
  });
});

describe('a resource at the origin root', () => {
  let at: MetadataServer;
  beforeAll(async () => {
    at = await serveMetadata((origin) => `${origin}/`);
    servers.push(at.server);
  });

  test('is served at /.well-known/oauth-protected-resource only', async () => {
    expect(at.mcp.metadataUrl).toBe(`${at.origin}${WELL_KNOWN}`);
    const res = await request(at.server).get(WELL_KNOWN);
    expect(res.status).toBe(200);
    expect((res.body as { resource: string }).resource).toBe(`${at.origin}/`);
    for (const path of [`${WELL_KNOWN}/`, `${WELL_KNOWN}/mcp`]) {
      expect({ path, status: (await request(at.server).get(path)).status }).toEqual({
        path,
        status: 404,
      });
    }
  });
});
