// protectMcp()'s guard in front of a real MCP server (test/helpers/mcp-test-server.ts), with tokens
// from a real JWKS issuer: a session bound to the user who opened it (the GET stream and DELETE),
// and what happens to a call when its audit event cannot be written (auditFailurePolicy).
import request from 'supertest';
import type { AuditEvent, AuditSink } from 'express-identity-passthrough';
import { expectRefusal } from '../helpers/http.js';
import {
  BOB,
  callTool,
  mcpTokenFor,
  metadataUrlOf,
  openSession,
  post,
  summary,
  useMcpServer,
} from '../helpers/mcp-test-server.js';
import { useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();
const tokenFor = mcpTokenFor(idp);

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
