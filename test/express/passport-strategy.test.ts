import passport, { Passport, Strategy } from 'passport';
import type { Request } from 'express';
import {
  createMemoryAuditSink,
  getCurrentIdentity,
  identityErrorHandler,
  identityStrategy,
  requireUser,
  type AuditEvent,
  type Identity,
  type IdentityStrategyOptions,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { TEST_AUDIENCE, type Claims, useTestIssuer } from '../helpers/test-issuer.js';

// identityStrategy(): the bearer authentication of authenticate() behind passport.authenticate(),
// with the same identity, request scope, refusals and audit trail.

const idp = useTestIssuer();
// Its JWKS endpoint is taken down (and brought back) by the outage test.
const flaky = useTestIssuer();

type ExpressFactory = (typeof EXPRESS_VERSIONS)[number][1];

// A client-credentials token (RFC 9068 §2.2: the subject is the client itself), with none of the
// test issuer's default person.
const CLIENT_CREDENTIALS: Claims = {
  sub: 'ai-backend',
  client_id: 'ai-backend',
  preferred_username: undefined,
  email: undefined,
  name: undefined,
  scope: 'orders.read',
};

const options = (extra: Partial<IdentityStrategyOptions> = {}): IdentityStrategyOptions => ({
  issuer: idp.issuer,
  audience: TEST_AUDIENCE,
  jwksUri: idp.jwksUri,
  ...extra,
});

/** What the route saw: the identity three ways, the request id of the scope. */
function echo(req: Request): Record<string, unknown> {
  return {
    user: req.identity?.username ?? null,
    passportUser: (req.user as Identity | undefined)?.username ?? null,
    sameObject: req.user === req.identity,
    writable: Object.getOwnPropertyDescriptor(req, 'identity')?.writable ?? null,
    scoped: getCurrentIdentity()?.username ?? null,
  };
}

/** An AI route behind passport and the route guard, and the package's error handler. */
function buildApp(
  express: ExpressFactory,
  strategyOptions: IdentityStrategyOptions,
): ReturnType<ExpressFactory> {
  const app = express();
  app.post(
    '/ai/chat',
    passport.authenticate(identityStrategy(strategyOptions), { session: false }),
    requireUser({ roles: ['reader'] }),
    (req, res) => {
      res.json(echo(req));
    },
  );
  app.use(identityErrorHandler());
  return app;
}

/** The facts of each audit event a test asserts. */
const decisions = (audit: MemoryAuditSink) =>
  audit.events.map((event: AuditEvent) => ({
    action: event.action,
    outcome: event.outcome,
    reason: event.reason,
    status: event.status,
    user: event.user,
  }));

const ALICE_ALLOWED = {
  action: 'authorize',
  outcome: 'allowed',
  reason: 'ok',
  status: null,
  user: 'alice',
};

const expired = () => {
  const now = Math.floor(Date.now() / 1000);
  return idp.sign({ roles: ['reader'], iat: now - 7_200, exp: now - 3_600 });
};

describe.each(EXPRESS_VERSIONS)('identityStrategy() with passport on %s', (_name, express) => {
  test('a valid user token: 200, and req.identity, req.user and getCurrentIdentity() agree', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit })));
    const res = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      user: 'alice',
      passportUser: 'alice',
      sameObject: true,
      writable: false,
      scoped: 'alice',
    });
    expect(res.headers['x-request-id']).toBeDefined();
    // One event for the request: the guard's decision supersedes the authentication's.
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
    expect(audit.events[0]?.request_id).toBe(res.headers['x-request-id']);
  });

  test('no token: 401 from passport with a Bearer challenge and no error attribute, audited', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit, realm: 'ai-assistant' })));
    const res = await agent.post('/ai/chat');
    expect(res.status).toBe(401);
    // RFC 6750 §3.1: no credential offered, so no error code, only the scheme and realm.
    expect(res.headers['www-authenticate']).toBe('Bearer realm="ai-assistant"');
    expect(res.text).toBe('Unauthorized');
    expect(decisions(audit)).toEqual([
      {
        action: 'authenticate',
        outcome: 'denied',
        reason: 'credentials_missing',
        status: 401,
        user: null,
      },
    ]);

    audit.clear();
    const control = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(control.status).toBe(200);
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  test('an expired token: 401 with error="invalid_token", the token nowhere in the response', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit })));
    const token = await expired();
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    const challenge = res.headers['www-authenticate'];
    expect(challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/);
    expect(`${challenge} ${res.text}`).not.toContain(token);
    expect(decisions(audit)).toEqual([
      {
        action: 'authenticate',
        outcome: 'denied',
        reason: 'token_expired',
        status: 401,
        user: null,
      },
    ]);

    audit.clear();
    const control = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(control.status).toBe(200);
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  test("a client-credentials token: 403 service_account_refused, the route guard's decision", async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit })));
    const res = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign(CLIENT_CREDENTIALS)}`);
    expectRefusal(res, { status: 403, code: 'service_account_refused' });
    expect(decisions(audit)).toEqual([
      {
        action: 'authorize',
        outcome: 'denied',
        reason: 'service_account_refused',
        status: 403,
        user: 'ai-backend',
      },
    ]);
    expect(audit.events[0]).toMatchObject({
      kind: 'service',
      subject: 'ai-backend',
      details: expect.objectContaining({ rule: 'subject-is-client' }),
    });

    audit.clear();
    const control = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(control.status).toBe(200);
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  test('the JWKS endpoint down: 503 identity_provider_unavailable, never a 401', async () => {
    const audit = createMemoryAuditSink();
    const flakyOptions = { issuer: flaky.issuer, audience: TEST_AUDIENCE, jwksUri: flaky.jwksUri };
    const token = await flaky.sign({ roles: ['reader'] });
    await flaky.setMode('down');
    try {
      const agent = await serve(buildApp(express, { ...flakyOptions, audit }));
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
      expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
      expect((res.body as { message: string }).message).toBe(
        'The identity provider is unavailable; retry shortly.',
      );
      expect(decisions(audit)).toEqual([
        {
          action: 'authenticate',
          outcome: 'error',
          reason: 'identity_provider_unavailable',
          status: 503,
          user: null,
        },
      ]);
    } finally {
      await flaky.setMode('up');
    }

    audit.clear();
    const control = await serve(buildApp(express, { ...flakyOptions, audit }));
    expect((await control.post('/ai/chat').set('Authorization', `Bearer ${token}`)).status).toBe(
      200,
    );
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  test('an API key alone: 403 api_key_refused through the error handler, not a passport 401', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit })));
    const res = await agent.post('/ai/chat').set('X-API-Key', 'k-123');
    expectRefusal(res, { status: 403, code: 'api_key_refused' });
    expect(decisions(audit)).toEqual([
      {
        action: 'authenticate',
        outcome: 'denied',
        reason: 'api_key_refused',
        status: 403,
        user: null,
      },
    ]);
  });

  test('in a chain, a 401 falls through to the next strategy; an outage stops the chain', async () => {
    /** A route that lets a guest in when the bearer strategy fails. */
    const chain = (strategyOptions: IdentityStrategyOptions) => {
      const authenticator = new Passport();
      authenticator.use(identityStrategy(strategyOptions));
      authenticator.use(new GuestStrategy());
      const app = express();
      app.get(
        '/me',
        authenticator.authenticate(['identity-bearer', 'guest'], { session: false }),
        (req, res) => {
          res.json({ via: req.identity === undefined ? 'guest' : 'bearer' });
        },
      );
      app.use(identityErrorHandler());
      return serve(app);
    };
    const audit = createMemoryAuditSink();
    const agent = await chain(options({ audit }));
    const bearer = await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(bearer.body).toEqual({ via: 'bearer' });
    const stale = await agent.get('/me').set('Authorization', `Bearer ${await expired()}`);
    expect(stale.body).toEqual({ via: 'guest' });
    // This package's refusal of the token is on record, whoever let the request in after it.
    expect(decisions(audit).at(-1)).toMatchObject({ outcome: 'denied', reason: 'token_expired' });

    const token = await flaky.sign();
    await flaky.setMode('down');
    try {
      const outage = await (
        await chain({ issuer: flaky.issuer, audience: TEST_AUDIENCE, jwksUri: flaky.jwksUri })
      )
        .get('/me')
        .set('Authorization', `Bearer ${token}`);
      expectRefusal(outage, { status: 503, code: 'identity_provider_unavailable' });
    } finally {
      await flaky.setMode('up');
    }
  });

  test('one shared instance serves concurrent requests, each as its own user', async () => {
    const agent = await serve(buildApp(express, options({ audit: createMemoryAuditSink() })));
    const users = Array.from({ length: 12 }, (_unused, index) => `user-${index}`);
    const tokens = await Promise.all(
      users.map((username) =>
        idp.sign({ sub: username, preferred_username: username, roles: ['reader'] }),
      ),
    );
    const responses = await Promise.all(
      // A request continued as another's would leave its own hanging: fail fast, not at the
      // test timeout.
      tokens.map((token) =>
        agent.post('/ai/chat').set('Authorization', `Bearer ${token}`).timeout(5_000),
      ),
    );
    expect(responses.map((res) => [res.status, res.body.user, res.body.scoped])).toEqual(
      users.map((username) => [200, username, username]),
    );
  });

  test('registered by name with passport.use(), each request gets its own strategy object', async () => {
    const authenticator = new Passport();
    authenticator.use(
      identityStrategy(options({ name: 'staff-bearer', audit: createMemoryAuditSink() })),
    );
    const app = express();
    app.use(authenticator.initialize());
    app.post(
      '/ai/chat',
      authenticator.authenticate('staff-bearer', { session: false }),
      requireUser({ roles: ['reader'] }),
      (req, res) => {
        res.json(echo(req));
      },
    );
    app.use(identityErrorHandler());
    const agent = await serve(app);
    const res = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(res.body).toMatchObject({ user: 'alice', passportUser: 'alice', scoped: 'alice' });
    expect((await agent.post('/ai/chat')).status).toBe(401);
  });

  test('mounted twice on one path (app and route), the request is decided and audited once', async () => {
    const audit = createMemoryAuditSink();
    const strategy = identityStrategy(options({ audit }));
    const app = express();
    app.use(passport.authenticate(strategy, { session: false }));
    app.post(
      '/ai/chat',
      passport.authenticate(strategy, { session: false }),
      requireUser({ roles: ['reader'] }),
      (req, res) => {
        res.json(echo(req));
      },
    );
    const agent = await serve(app);
    const res = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(res.body).toMatchObject({ user: 'alice', passportUser: 'alice', scoped: 'alice' });
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  test('credentialsRequired: false passes without a user; the route guard then refuses', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit, credentialsRequired: false })));
    const res = await agent.post('/ai/chat');
    expectRefusal(res, { status: 401, code: 'credentials_missing', bearerError: null });
    expect(decisions(audit)).toEqual([
      {
        action: 'authorize',
        outcome: 'denied',
        reason: 'credentials_missing',
        status: 401,
        user: null,
      },
    ]);

    audit.clear();
    const control = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
    expect(control.status).toBe(200);
    expect(decisions(audit)).toEqual([ALICE_ALLOWED]);
  });

  describe('auditFailurePolicy: fail-closed', () => {
    const broken = {
      audit: {
        log() {
          throw new Error('disk full');
        },
      },
      auditFailurePolicy: 'fail-closed' as const,
      onAuditFailure: () => undefined,
    };

    test('a sink that works: the authentication event is written before the route runs', async () => {
      const audit = createMemoryAuditSink();
      const app = express();
      app.get(
        '/me',
        passport.authenticate(
          identityStrategy(options({ audit, auditFailurePolicy: 'fail-closed' })),
          { session: false },
        ),
        (req, res) => {
          res.json({ user: req.identity?.username, written: audit.events.length });
        },
      );
      const res = await (
        await serve(app)
      )
        .get('/me')
        .set('Authorization', `Bearer ${await idp.sign()}`);
      expect(res.body).toEqual({ user: 'alice', written: 1 });
      expect(decisions(audit)).toEqual([{ ...ALICE_ALLOWED, action: 'authenticate' }]);
    });

    test('a sink that fails: 503 audit_unavailable instead of an unaudited user', async () => {
      const agent = await serve(buildApp(express, options(broken)));
      const res = await agent
        .post('/ai/chat')
        .set('Authorization', `Bearer ${await idp.sign({ roles: ['reader'] })}`);
      expectRefusal(res, { status: 503, code: 'audit_unavailable' });
      // A refusal stays the refusal it was: the missing audit does not turn it into a 503.
      const stale = await agent.post('/ai/chat').set('Authorization', `Bearer ${await expired()}`);
      expect(stale.status).toBe(401);
      expect(stale.headers['www-authenticate']).toContain('error="invalid_token"');
    });
  });
});

describe('identityStrategy() options', () => {
  test('valid options give a passport Strategy named identity-bearer, or as the name option says', () => {
    const strategy = identityStrategy(options());
    expect(strategy).toBeInstanceOf(Strategy);
    expect(strategy.name).toBe('identity-bearer');
    expect(identityStrategy(options({ name: 'staff-bearer' })).name).toBe('staff-bearer');
  });

  test.each([
    [{ issuer: 42 }, /^identityStrategy: option "issuer" /],
    [{ name: '' }, /^identityStrategy: option "name" /],
    [{ realm: 7 }, /^identityStrategy: option "realm" /],
    [{ auditFailurePolicy: 'fail-later' }, /^identityStrategy: option "auditFailurePolicy" /],
    [{ audiense: TEST_AUDIENCE }, /unknown option "audiense" \(did you mean "audience"\?\)/],
  ])('%j throws a TypeError at startup naming the option', (bad, message) => {
    expect(() => identityStrategy({ ...options(), ...bad } as IdentityStrategyOptions)).toThrow(
      TypeError,
    );
    expect(() => identityStrategy({ ...options(), ...bad } as IdentityStrategyOptions)).toThrow(
      message,
    );
  });

  test('a missing audience is an error at startup, not a silent default', () => {
    expect(() => identityStrategy({ issuer: idp.issuer, jwksUri: idp.jwksUri })).toThrow(
      /^identityStrategy: .*audience/,
    );
  });

  test('used as a middleware instead of being called, it says how to call it', () => {
    expect(() => identityStrategy({ headers: {}, method: 'GET', socket: {} } as never)).toThrow(
      'identityStrategy is a factory, not a middleware',
    );
  });

  test('warm() loads the keys at startup, and rejects with 503 when the endpoint is down', async () => {
    await expect(identityStrategy(options()).warm()).resolves.toBeUndefined();
    await flaky.setMode('down');
    try {
      await expect(
        identityStrategy({
          issuer: flaky.issuer,
          audience: TEST_AUDIENCE,
          jwksUri: flaky.jwksUri,
        }).warm(),
      ).rejects.toMatchObject({ code: 'identity_provider_unavailable', status: 503 });
    } finally {
      await flaky.setMode('up');
    }
  });
});

/** A second strategy for chains: lets anyone in as a guest, without an identity. */
class GuestStrategy extends Strategy {
  override readonly name = 'guest';

  override authenticate(): void {
    this.success({ guest: true });
  }
}
