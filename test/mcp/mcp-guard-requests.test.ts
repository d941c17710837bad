// protectMcp()'s guard in front of a real MCP server (test/helpers/mcp-test-server.ts), with tokens
// from a real JWKS issuer: what it does with the request body. JSON-RPC batches are judged as a
// whole, and on node:http with no body parser the guard reads, limits and parses the body itself.
import request from 'supertest';
import { expectRefusal } from '../helpers/http.js';
import {
  ACCEPT,
  callTool,
  mcpTokenFor,
  openSession,
  post,
  rawPost,
  summary,
  toolText,
  useMcpServer,
} from '../helpers/mcp-test-server.js';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();
const tokenFor = mcpTokenFor(idp);

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
