import { createMemoryAuditSink } from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';

// Where authenticate() accepts a credential from, what it refuses instead (tokens in URLs or
// bodies, duplicate or malformed headers, API keys), and the request ids it records.

const idp = useTestIssuer();

describe.each(EXPRESS_VERSIONS)('authenticate() on %s', (_name, express) => {
  const options = () => ({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri });

  describe('where the credential may come from', () => {
    test('no credential: 401 with a bare Bearer challenge and an audit event', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(buildApp(express, { ...options(), audit, realm: 'ai' }));
      const res = await agent.get('/me');
      expectRefusal(res, { status: 401, code: 'credentials_missing', bearerError: null });
      expect(res.headers['www-authenticate']).toBe('Bearer realm="ai"');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(audit.events).toEqual([
        expect.objectContaining({
          outcome: 'denied',
          reason: 'credentials_missing',
          user: null,
          status: 401,
        }),
      ]);
    });

    test('a token in the query string is refused with 400, and the query is kept out of the audit', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(buildApp(express, { ...options(), audit }));
      const token = await idp.sign();
      const res = await agent.get(`/me?access_token=${token}`);
      expectRefusal(res, { status: 400, code: 'token_in_url', bearerError: 'invalid_request' });
      expect(JSON.stringify(audit.events)).not.toContain(token);
      expect(audit.events[0]?.resource).toBe('GET /me');
    });

    test('a token in a form body is refused with 400', async () => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      const res = await agent
        .post('/ai/chat')
        .type('form')
        .send({ access_token: await idp.sign() });
      expectRefusal(res, { status: 400, code: 'token_in_body', bearerError: 'invalid_request' });
    });

    test('two Authorization headers are refused with 400, even though Node keeps only one', async () => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      const res = await agent
        .get('/me')
        // supertest sends each array item as its own header line.
        .set('Authorization', [
          `Bearer ${await idp.sign()}`,
          `Bearer ${await idp.sign({ sub: 'bob' })}`,
        ] as unknown as string);
      expectRefusal(res, {
        status: 400,
        code: 'multiple_credentials',
        bearerError: 'invalid_request',
      });
    });

    test.each([
      ['Bearer', 'invalid_request', 400, 'invalid_request'],
      ['Bearer a b', 'invalid_request', 400, 'invalid_request'],
      ['Bearer a,Bearer b', 'invalid_request', 400, 'invalid_request'],
    ])('malformed header %j is a 400', async (header, code, status, bearerError) => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      expectRefusal(await agent.get('/me').set('Authorization', header), {
        status,
        code,
        bearerError,
      });
    });

    test('another scheme (Basic) gets 401 with the Bearer challenge', async () => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      const res = await agent.get('/me').set('Authorization', 'Basic YWxpY2U6c2VjcmV0');
      expectRefusal(res, { status: 401, code: 'unsupported_auth_scheme', bearerError: null });
    });

    test.each([
      ['X-API-Key', 'k-123'],
      ['X-DreamFactory-API-Key', 'df-456'],
    ])('an API key in %s instead of a user token is refused with 403', async (header, value) => {
      const audit = createMemoryAuditSink();
      const agent = await serve(buildApp(express, { ...options(), audit }));
      const res = await agent.post('/ai/chat').set(header, value);
      expectRefusal(res, { status: 403, code: 'api_key_refused' });
      expect(audit.events[0]).toMatchObject({
        reason: 'api_key_refused',
        details: { rule: 'api-key-header', header: header.toLowerCase() },
      });
      expect(JSON.stringify(audit.events)).not.toContain(value);
    });

    test('an API key beside the user token (as DreamFactory clients send) is fine', async () => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      const res = await agent
        .post('/ai/chat')
        .set('X-DreamFactory-API-Key', 'df-456')
        .set('Authorization', `Bearer ${await idp.sign()}`);
      expect(res.status).toBe(200);
    });

    test('Authorization: ApiKey is recognised as an API key too', async () => {
      const agent = await serve(
        buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
      );
      expectRefusal(await agent.get('/me').set('Authorization', 'ApiKey k-1'), {
        status: 403,
        code: 'api_key_refused',
      });
    });
  });

  describe('credentialsRequired: false', () => {
    test('anonymous requests pass without identity; the AI route still refuses them', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(
        buildApp(express, { ...options(), audit, credentialsRequired: false }),
      );
      const me = await agent.get('/me');
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ identity: null, scoped: null });
      expectRefusal(await agent.post('/ai/chat'), {
        status: 401,
        code: 'credentials_missing',
        bearerError: null,
      });
      expectRefusal(await agent.post('/ai/chat').set('X-API-Key', 'k'), {
        status: 403,
        code: 'api_key_refused',
      });
      // A token that is sent is still verified.
      expectRefusal(await agent.get('/me').set('Authorization', 'Bearer a.b.c'), {
        status: 401,
        code: 'token_malformed',
        bearerError: 'invalid_token',
      });
    });
  });

  test('a bare credential in Authorization never reaches the audit trail as a "scheme"', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, { ...options(), audit }));
    const res = await agent.get('/me').set('Authorization', 'sk_live_51HxYzSecretValue');
    expectRefusal(res, { status: 401, code: 'unsupported_auth_scheme', bearerError: null });
    expect(JSON.stringify(audit.events).toLowerCase()).not.toContain('sk_live');
    expect(audit.events[0]?.details).toEqual({ scheme: null });
  });

  test('X-Request-Id and traceparent are honoured; hostile ids are replaced', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, { ...options(), audit }));
    const given = await agent.get('/me').set('X-Request-Id', 'req-42');
    expect(given.body).toMatchObject({ request_id: 'req-42' });
    const traced = await agent
      .get('/me')
      .set('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(traced.headers['x-request-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const hostile = await agent.get('/me').set('X-Request-Id', 'a\tb"<script>');
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(audit.events.map((event) => event.request_id)).toEqual([
      'req-42',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      hostile.headers['x-request-id'],
    ]);
  });
});
