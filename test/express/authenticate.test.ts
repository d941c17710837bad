import { inspect } from 'node:util';
import {
  authenticate,
  createMemoryAuditSink,
  getCurrentIdentity,
  identityErrorHandler,
  type Identity,
} from '../../lib/index.js';
import { credentialOf } from '../../lib/core/identity.js';
import { buildApp } from '../helpers/app.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

let idp: TestIssuer;
let other: TestIssuer;

beforeAll(async () => {
  idp = await createTestIssuer();
  other = await createTestIssuer({ alg: 'ES256' });
});
afterAll(async () => {
  await closeServers();
  await idp.close();
  await other.close();
});

describe.each(EXPRESS_VERSIONS)('authenticate() on %s', (_name, express) => {
  const options = () => ({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri });

  test('a valid user token yields a frozen, normalized identity on req.identity', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, { ...options(), audit }));
    const token = await idp.sign({ groups: ['Sales-Team'], roles: ['reader'] });
    const res = await agent.get('/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    const identity = (res.body as { identity: Identity }).identity;
    expect(identity).toMatchObject({
      subject: 'user-alice',
      issuer: idp.issuer,
      provider: 'jwt',
      kind: 'user',
      username: 'alice',
      email: 'alice@example.com',
      name: 'Alice Example',
      groups: ['Sales-Team'],
      groupsComplete: true,
      roles: ['reader'],
      scopes: ['openid', 'orders.read'],
    });
    expect(identity.credentialFingerprint).toMatch(/^jti:/);
    expect(res.headers['x-request-id']).toBeDefined();
    // The raw token is nowhere in what the app can serialize.
    expect(JSON.stringify(res.body)).not.toContain(token);
    expect(audit.events).toEqual([
      expect.objectContaining({
        action: 'authenticate',
        outcome: 'allowed',
        user: 'alice',
        subject: 'user-alice',
        resource: 'GET /me',
        request_id: res.headers['x-request-id'],
      }),
    ]);
  });

  test('the identity is immutable and hides the credential from JSON and inspect', async () => {
    let seen: Identity | undefined;
    let reassignment: unknown;
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/probe', (req, res) => {
      seen = req.identity;
      try {
        (req as { identity?: unknown }).identity = { subject: 'mallory' };
      } catch (error) {
        reassignment = error;
      }
      res.json({ subject: req.identity?.subject });
    });
    const token = await idp.sign();
    const res = await (await serve(app)).get('/probe').set('Authorization', `Bearer ${token}`);
    expect(res.body).toEqual({ subject: 'user-alice' });
    expect(reassignment).toBeInstanceOf(TypeError);
    expect(seen).toBeDefined();
    const identity = seen as Identity;
    expect(Object.isFrozen(identity)).toBe(true);
    expect(Object.isFrozen(identity.groups)).toBe(true);
    expect(() => (identity.roles as string[]).push('admin')).toThrow(TypeError);
    expect(JSON.stringify(identity)).not.toContain(token);
    expect(inspect(identity, { depth: 10, showHidden: true })).not.toContain(token);
    expect({ ...identity }).not.toHaveProperty('credential');
    expect(credentialOf(identity)).toMatchObject({
      type: 'bearer',
      value: token,
      audience: [TEST_AUDIENCE],
    });
  });

  test('identity headers set by a client or proxy never influence the identity', async () => {
    const agent = await serve(buildApp(express, { ...options(), audit: createMemoryAuditSink() }));
    const token = await idp.sign();
    const res = await agent
      .get('/me')
      .set('Authorization', `Bearer ${token}`)
      .set('X-Forwarded-User', 'admin')
      .set('X-MS-CLIENT-PRINCIPAL', Buffer.from('{"userId":"admin"}').toString('base64'))
      .set('X-MS-CLIENT-PRINCIPAL-NAME', 'admin');
    expect((res.body as { identity: Identity }).identity.username).toBe('alice');
    const anonymous = await agent.get('/me').set('X-Forwarded-User', 'admin');
    expectRefusal(anonymous, { status: 401, code: 'credentials_missing', bearerError: null });
  });

  test('the identity is available without req through the request scope, and only during the request', async () => {
    let later: Identity | undefined | 'unset' = 'unset';
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/tool', (_req, res) => {
      const during = getCurrentIdentity()?.username;
      res.on('finish', () => {
        setTimeout(() => {
          later = getCurrentIdentity();
        }, 20);
      });
      setImmediate(() => res.json({ during }));
    });
    const res = await (
      await serve(app)
    )
      .get('/tool')
      .set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.body).toEqual({ during: 'alice' });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(later).toBeUndefined();
    expect(getCurrentIdentity()).toBeUndefined();
  });

  test('concurrent requests each see their own identity in scope', async () => {
    const agent = await serve(buildApp(express, { ...options(), audit: createMemoryAuditSink() }));
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const results = await Promise.all(
      users.map(async (user) =>
        agent
          .post('/ai/chat')
          .set(
            'Authorization',
            `Bearer ${await idp.sign({ sub: `id-${user}`, preferred_username: user })}`,
          ),
      ),
    );
    expect(results.map((res) => (res.body as { scoped: string }).scoped)).toEqual(users);
  });

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

  describe('several issuers', () => {
    test("each token is verified against the issuer it names, with that issuer's keys", async () => {
      const app = buildApp(express, {
        issuers: [
          { issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri },
          {
            issuer: other.issuer,
            audience: 'api://other',
            jwksUri: other.jwksUri,
            preset: 'keycloak',
          },
        ],
        audit: createMemoryAuditSink(),
      });
      const agent = await serve(app);
      const first = await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`);
      expect((first.body as { identity: Identity }).identity.issuer).toBe(idp.issuer);
      const second = await agent
        .get('/me')
        .set(
          'Authorization',
          `Bearer ${await other.sign({ aud: 'api://other', realm_access: { roles: ['analyst'] } })}`,
        );
      expect((second.body as { identity: Identity }).identity).toMatchObject({
        issuer: other.issuer,
        roles: ['analyst'],
      });
      // A token naming issuer A but signed by issuer B's key does not verify.
      const crossed = await other.sign({ iss: idp.issuer });
      expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${crossed}`), {
        status: 401,
        code: 'token_key_unknown',
        bearerError: 'invalid_token',
      });
    });

    test('an unknown issuer is refused without any network call', async () => {
      const rogue = await createTestIssuer();
      try {
        const agent = await serve(
          buildApp(express, { ...options(), audit: createMemoryAuditSink() }),
        );
        const before = idp.jwksRequests;
        const rogueBefore = rogue.jwksRequests;
        for (let i = 0; i < 5; i++) {
          const res = await agent.get('/me').set('Authorization', `Bearer ${await rogue.sign()}`);
          expectRefusal(res, {
            status: 401,
            code: 'token_issuer_unknown',
            bearerError: 'invalid_token',
          });
        }
        expect(idp.jwksRequests).toBe(before);
        expect(rogue.jwksRequests).toBe(rogueBefore);
      } finally {
        await rogue.close();
      }
    });
  });

  test('a second authenticate() with other settings decides again (an admin router, say)', async () => {
    const audit = createMemoryAuditSink();
    const app = express();
    app.use(authenticate({ ...options(), audit }));
    const admin = express.Router();
    admin.use(authenticate({ ...options(), audience: 'api://admin', audit }));
    admin.get('/x', (req, res) => res.json({ user: req.identity?.username }));
    app.use('/admin', admin);
    app.use(identityErrorHandler());
    const agent = await serve(app);
    const publicOnly = await idp.sign();
    expectRefusal(await agent.get('/admin/x').set('Authorization', `Bearer ${publicOnly}`), {
      status: 401,
      code: 'token_audience_invalid',
      bearerError: 'invalid_token',
    });
    const both = await idp.sign({ aud: [TEST_AUDIENCE, 'api://admin'] });
    const res = await agent.get('/admin/x').set('Authorization', `Bearer ${both}`);
    expect(res.body).toEqual({ user: 'alice' });
  });

  test('a bare credential in Authorization never reaches the audit trail as a "scheme"', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, { ...options(), audit }));
    const res = await agent.get('/me').set('Authorization', 'sk_live_51HxYzSecretValue');
    expectRefusal(res, { status: 401, code: 'unsupported_auth_scheme', bearerError: null });
    expect(JSON.stringify(audit.events).toLowerCase()).not.toContain('sk_live');
    expect(audit.events[0]?.details).toEqual({ scheme: null });
  });

  test('the same authenticate() mounted twice decides once', async () => {
    const audit = createMemoryAuditSink();
    const app = express();
    const auth = authenticate({ ...options(), audit });
    app.use(auth);
    app.use(auth);
    app.get('/me', (req, res) => res.json({ user: req.identity?.username }));
    app.use(identityErrorHandler());
    const res = await (
      await serve(app)
    )
      .get('/me')
      .set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.body).toEqual({ user: 'alice' });
    expect(audit.events).toHaveLength(1);
  });

  test('without identityErrorHandler, Express still sends the status and the challenge', async () => {
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/me', (_req, res) => res.json({}));
    const res = await (await serve(app)).get('/me').set('Authorization', 'Bearer x.y.z');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  test('a failing audit sink never breaks the request and the failure is reported', async () => {
    const failures: unknown[] = [];
    const agent = await serve(
      buildApp(express, {
        ...options(),
        audit: {
          log() {
            throw new Error('disk full');
          },
        },
        onAuditFailure: (error) => failures.push(error),
      }),
    );
    const ok = await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(ok.status).toBe(200);
    const denied = await agent.get('/me');
    expect(denied.status).toBe(401);
    expect(failures).toHaveLength(2);
    const rejecting = await serve(
      buildApp(express, {
        ...options(),
        audit: { log: () => Promise.reject(new Error('network')) },
        onAuditFailure: (error) => failures.push(error),
      }),
    );
    expect((await rejecting.get('/me')).status).toBe(401);
    await new Promise((resolve) => setImmediate(resolve));
    expect(failures).toHaveLength(3);
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
