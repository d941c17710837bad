// protectMcp()'s guard in front of a real MCP server (test/helpers/mcp-test-server.ts), with tokens
// from a real JWKS issuer: how the token is checked before any MCP message is read. The JWKS
// endpoint down, a token naming another audience, and a token sent twice or in the URL.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { expectRefusal } from '../helpers/http.js';
import {
  ACCEPT,
  callTool,
  initialize,
  mcpTokenFor,
  metadataUrlOf,
  openSession,
  post,
  rawPost,
  summary,
  useMcpServer,
} from '../helpers/mcp-test-server.js';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();
const tokenFor = mcpTokenFor(idp);

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
