import { createServer, request as httpRequest } from 'node:http';
import { inspect } from 'node:util';
import {
  authenticate,
  createMemoryAuditSink,
  getCurrentIdentity,
  getCurrentRequestId,
  identityErrorHandler,
  requireUser,
  type Identity,
} from '../../lib/index.js';
import { credentialOf } from '../../lib/core/identity.js';
import { getCurrentScope } from '../../lib/core/request-context.js';
import { buildApp } from '../helpers/app.js';
import { EXPRESS_VERSIONS, expectRefusal, serve, serverUrl } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';

// The identity authenticate() yields and its request scope, several issuers, and how it composes
// with other middleware. Where the credential may come from is in credential-sources.test.ts.

const idp = useTestIssuer();
const other = useTestIssuer({ alg: 'ES256' });

/** A promise with its resolver, for steps a test waits on. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Waits for `promise`, failing with `what` after `ms` rather than at the test timeout. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

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

  test('one event per request, whether the guard runs at once, after an asynchronous step, or not at all', async () => {
    const audit = createMemoryAuditSink();
    const app = express();
    app.use(authenticate({ ...options(), audit }));
    // A body parser reads the body asynchronously: the guard runs on a later turn.
    app.post('/ai/chat', express.json(), requireUser(), (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/ai/now', requireUser(), (_req, res) => {
      res.json({ ok: true });
    });
    // No guard, and an answer on a later turn.
    app.get('/me', (req, res) => {
      setTimeout(() => res.json({ user: req.identity?.username }), 10);
    });
    const agent = await serve(app);
    const bearer = `Bearer ${await idp.sign()}`;
    for (const [send, action] of [
      [() => agent.post('/ai/chat').set('Authorization', bearer).send({ q: 'hi' }), 'authorize'],
      [() => agent.get('/ai/now').set('Authorization', bearer), 'authorize'],
      [() => agent.get('/me').set('Authorization', bearer), 'authenticate'],
    ] as const) {
      audit.clear();
      const res = await send();
      expect(res.status).toBe(200);
      // The deferred authentication event is written when the response closes.
      for (let wait = 0; wait < 50 && audit.events.length === 0; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(audit.events.map((event) => [event.action, event.outcome, event.user])).toEqual([
        [action, 'allowed', 'alice'],
      ]);
    }
  });

  test('a scope kept past its request holds neither the user nor the response once the response closes', async () => {
    let kept: ReturnType<typeof getCurrentScope>;
    let closed!: () => void;
    const responseClosed = new Promise<void>((resolve) => (closed = resolve));
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/tool', (_req, res) => {
      // What a long-lived resource created during the request (a pool, an interval) keeps.
      kept = getCurrentScope();
      expect(kept?.identity?.username).toBe('alice');
      expect(kept?.response).toBe(res);
      res.on('close', () => setImmediate(closed));
      res.json({ ok: true });
    });
    const res = await (
      await serve(app)
    )
      .get('/tool')
      .set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.status).toBe(200);
    await Promise.race([responseClosed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    expect(kept?.identity).toBeUndefined();
    expect(kept?.response).toEqual({ writableEnded: true, closed: true });
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

  test('a client that aborts ends the scope: callbacks of its request that run afterwards no longer see the user', async () => {
    const seen: { atStart?: string; afterATurn?: string } = {};
    let afterAbort: Identity | undefined | 'unset' = 'unset';
    let inLaterTimer: Identity | undefined | 'unset' = 'unset';
    const waiting = signal();
    const clientGone = signal();
    const checked = signal();
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/slow', (_req, res) => {
      seen.atStart = getCurrentIdentity()?.username;
      res.once('close', clientGone.resolve);
      // An agent's tool still working when the client gives up; never answers.
      void (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        // The scope follows the request's own asynchronous chain while the client is there...
        seen.afterATurn = getCurrentIdentity()?.username;
        waiting.resolve();
        await clientGone.promise;
        // ...and ends with it: a late callback cannot act as the user.
        afterAbort = getCurrentIdentity();
        setTimeout(() => {
          inLaterTimer = getCurrentIdentity();
          checked.resolve();
        }, 10);
      })();
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = httpRequest(`${serverUrl(server)}/slow`, {
        agent: false,
        headers: { authorization: `Bearer ${await idp.sign()}` },
      });
      client.on('error', () => undefined); // the abort below: "socket hang up"
      client.end();
      await within(waiting.promise, 5_000, 'the handler to start');
      client.destroy();
      await within(checked.promise, 5_000, "the handler's callbacks after the abort");
      expect(seen).toEqual({ atStart: 'alice', afterATurn: 'alice' });
      expect(afterAbort).toBeUndefined();
      expect(inLaterTimer).toBeUndefined();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('the scope is over as soon as the handler ends the response', async () => {
    let before: { user?: string; requestId?: string } | undefined;
    let after: { identity?: Identity; requestId?: string } | 'unset' = 'unset';
    const app = express();
    app.use(authenticate({ ...options(), audit: createMemoryAuditSink() }));
    app.get('/tool', (_req, res) => {
      before = { user: getCurrentIdentity()?.username, requestId: getCurrentRequestId() };
      res.end('done');
      after = { identity: getCurrentIdentity(), requestId: getCurrentRequestId() };
    });
    const res = await (
      await serve(app)
    )
      .get('/tool')
      .set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.text).toBe('done');
    const requestId = res.headers['x-request-id'];
    expect(requestId).toMatch(/.+/);
    expect(before).toEqual({ user: 'alice', requestId });
    expect(after).toStrictEqual({ identity: undefined, requestId: undefined });
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
});
