// protectMcp() itself, without HTTP: its options, checked once at startup (each mistake a
// TypeError naming the option), and mayCall(). The guard over a real MCP server is in
// mcp-guard.test.ts, the SDK verifier in mcp-token-verifier.test.ts, the metadata in
// resource-metadata.test.ts.
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { buildIdentity, type Identity } from 'express-identity-passthrough';
import {
  createMemoryMcpSessionStore,
  protectMcp,
  type McpOptions,
} from 'express-identity-passthrough/mcp';

const RESOURCE = 'https://mcp.example.com/mcp';
const ISSUER = 'https://login.example.com/';
const JWKS_URI = 'https://login.example.com/.well-known/jwks.json';
const valid: McpOptions = { resource: RESOURCE, issuer: ISSUER, jwksUri: JWKS_URI };

describe('protectMcp() options', () => {
  test('valid options give the guard, the metadata, the verifier and the session id generator', () => {
    const mcp = protectMcp({
      ...valid,
      audience: RESOURCE,
      scopesSupported: ['mcp:tools'],
      tools: { report: { roles: ['sales'] } },
      sessions: createMemoryMcpSessionStore(),
    });
    expect(typeof mcp.guard).toBe('function');
    expect(typeof mcp.metadata).toBe('function');
    expect(typeof mcp.verifier.verifyAccessToken).toBe('function');
    expect(typeof mcp.sessionIdGenerator).toBe('function');
    expect(mcp.metadataUrl).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    );
    expect(mcp.resourceMetadata).toEqual({
      resource: RESOURCE,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
    });
  });

  test('plain http is accepted on the loopback interface, for development', () => {
    expect(() => protectMcp({ ...valid, resource: 'http://127.0.0.1:3000/mcp' })).not.toThrow();
  });

  test('the options object is left as it was given (deeply frozen, it still works)', () => {
    const options = Object.freeze({
      ...valid,
      tools: Object.freeze({ report: Object.freeze({ roles: Object.freeze(['sales']) }) }),
    }) as McpOptions;
    const before = JSON.stringify(options);
    expect(() => protectMcp(options)).not.toThrow();
    expect(JSON.stringify(options)).toBe(before);
  });

  const withoutResource = { issuer: ISSUER, jwksUri: JWKS_URI };
  test.each<[string, unknown, RegExp]>([
    ['"resource" missing', withoutResource, /^protectMcp: option "resource" /],
    [
      '"resource" with a fragment',
      { ...valid, resource: `${RESOURCE}#tools` },
      /^protectMcp: option "resource" must be a URI without a fragment/,
    ],
    [
      '"resource" in plain http on a host that is not loopback',
      { ...valid, resource: 'http://mcp.example.com/mcp' },
      /^protectMcp: option "resource" must be an https:\/\/ URL/,
    ],
    [
      '"audience" other than the resource',
      { ...valid, audience: 'api://orders' },
      /^protectMcp: option "audience" must be left out or equal "resource"/,
    ],
    [
      '"audience" listing the resource and another',
      { ...valid, audience: [RESOURCE, 'api://orders'] },
      /^protectMcp: option "audience" must be left out or equal "resource"/,
    ],
    [
      '"issuers.0.audience" other than the resource',
      {
        resource: RESOURCE,
        issuers: [{ issuer: ISSUER, jwksUri: JWKS_URI, audience: 'api://orders' }],
      },
      /^protectMcp: option "issuers\.0\.audience" must be left out or equal "resource"/,
    ],
    [
      '"credentialsRequired: false"',
      { ...valid, credentialsRequired: false },
      /^protectMcp: option "credentialsRequired" cannot be false/,
    ],
    [
      '"tools.x.roles" that is not a list',
      { ...valid, tools: { x: { roles: 'admin' } } },
      /^protectMcp: option "tools\.x\.roles" /,
    ],
    [
      'a misspelled option',
      { ...valid, tool: { x: { roles: ['admin'] } } },
      /^protectMcp: unknown option "tool" \(did you mean "tools"\?\)$/,
    ],
    [
      'an unknown option',
      { ...valid, transport: 'sse' },
      /^protectMcp: unknown option "transport"$/,
    ],
    [
      '"sessions" that is not a store',
      { ...valid, sessions: new Map<string, string>() },
      /^protectMcp: option "sessions" must be \{ bind\(id, owner, ttlSec\), ownerOf\(id\), forget\(id\) \}$/,
    ],
    [
      '"maxBodyBytes" below 1 KiB',
      { ...valid, maxBodyBytes: 100 },
      /^protectMcp: option "maxBodyBytes" /,
    ],
  ])('%s is a TypeError naming the option', (_case, options, message) => {
    expect(() => protectMcp(options as McpOptions)).toThrow(TypeError);
    expect(() => protectMcp(options as McpOptions)).toThrow(message);
  });

  test('used as a middleware instead of being called, it says so', () => {
    const req = new IncomingMessage(new Socket());
    expect(() => protectMcp(req as never)).toThrow(
      'protectMcp is a factory, not a middleware: use app.use(protectMcp({ ... })), not app.use(protectMcp)',
    );
  });

  test('"issuers.N.audience" can be left out, as the audience error says', () => {
    // Positive control: the same issuer with the resource as its audience.
    expect(() =>
      protectMcp({
        resource: RESOURCE,
        issuers: [{ issuer: ISSUER, jwksUri: JWKS_URI, audience: RESOURCE }],
      }),
    ).not.toThrow();
    // The message for a wrong one reads 'must be left out or equal "resource"'; left out, it is
    // 'option "issuers.0.audience" Invalid input' instead.
    expect(() =>
      protectMcp({
        resource: RESOURCE,
        issuers: [{ issuer: ISSUER, jwksUri: JWKS_URI }],
      } as McpOptions),
    ).not.toThrow();
  });
});

describe('mayCall()', () => {
  const mcp = protectMcp({
    ...valid,
    tools: {
      sales_report: { roles: ['sales'] },
      service_tool: { dangerouslyAllowServiceAccounts: true },
      alice_only: { allow: (identity) => Promise.resolve(identity.username === 'alice') },
    },
  });
  const person = (username: string, roles: string[] = []): Identity =>
    buildIdentity({
      subject: `user-${username}`,
      issuer: ISSUER,
      provider: 'jwt',
      username,
      roles,
    });
  const service = buildIdentity({
    subject: 'reporting-app',
    issuer: ISSUER,
    provider: 'jwt',
    username: 'reporting-app',
    kind: 'service',
    serviceAccountRule: 'subject-is-client',
  });

  test("answers from the tool's requirements: roles, and a predicate of its own", async () => {
    expect(await mcp.mayCall('sales_report', person('alice', ['sales']))).toBe(true);
    expect(await mcp.mayCall('sales_report', person('bob'))).toBe(false);
    expect(await mcp.mayCall('alice_only', person('alice'))).toBe(true);
    expect(await mcp.mayCall('alice_only', person('bob'))).toBe(false);
  });

  test('a tool without rules of its own is open to every user, and to no service account', async () => {
    expect(await mcp.mayCall('query_orders', person('bob'))).toBe(true);
    expect(await mcp.mayCall('query_orders', service)).toBe(false);
  });

  test('a service account may call only the tool that lets it in', async () => {
    expect(await mcp.mayCall('service_tool', service)).toBe(true);
    expect(await mcp.mayCall('sales_report', service)).toBe(false);
  });

  test('server-wide requirements apply to every tool', async () => {
    const staffOnly = protectMcp({ ...valid, requirements: { roles: ['staff'] } });
    expect(await staffOnly.mayCall('query_orders', person('alice', ['staff']))).toBe(true);
    expect(await staffOnly.mayCall('query_orders', person('bob'))).toBe(false);
  });

  test('outside a request, with no identity given, nobody may call anything', async () => {
    expect(await mcp.mayCall('query_orders')).toBe(false);
    expect(await mcp.mayCall('service_tool')).toBe(false);
    // Positive control: the same tool for a named user.
    expect(await mcp.mayCall('query_orders', person('alice'))).toBe(true);
  });
});
