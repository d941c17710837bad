import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { Response } from 'supertest';
import {
  authenticate,
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  IdentityError,
  identityErrorHandler,
  jwksRoute,
  requireUser,
  sessionRoutes,
  type Identity,
  type MemoryAuditSink,
  type PasswordAuthenticator,
  type PasswordCredentials,
  type SessionRoutesOptions,
  type SessionTokens,
} from '../../lib/index.js';
import { subjectFor } from '../../lib/tokens/token-claims.js';
import { createIdentity } from '../../lib/core/identity.js';
import type { PasswordSignInContext } from '../../lib/core/password-sign-in.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';

// The sign-in routes through a real Express app on 127.0.0.1, with a password authenticator over
// a fixed user table: the contract sessionRoutes() has with any directory.

const ISSUER = 'http://127.0.0.1/assistant';
const AUDIENCE = 'api://ai-assistant';
const ALICE_PASSWORD = 'Tr0ub4dor&3-alice-7c1e';
const SVC_PASSWORD = 'svc-backup-password-19d2';
const WRONG_PASSWORD = 'wrong-guess-password-55aa';
const CAROL_PASSWORD = 'carol-password-3c4d';
const DANA_PASSWORD = 'dana-password-8e9f';
const WINDOW_MS = 15 * 60 * 1000;

interface DirectoryEntry {
  readonly password: string;
  readonly email: string;
  readonly kind: 'user' | 'service';
  /** An administrator reset the password: the right one is refused until it is changed. */
  readonly mustChange?: boolean;
}

const USERS: Readonly<Record<string, DirectoryEntry>> = {
  alice: { password: ALICE_PASSWORD, email: 'alice@example.com', kind: 'user' },
  bob: { password: 'bob-password-0000', email: 'bob@example.com', kind: 'user' },
  'svc-backup': { password: SVC_PASSWORD, email: 'svc-backup@example.com', kind: 'service' },
  /** Two names no text folding joins: `carol` and `c.jones@example.com`. */
  carol: { password: CAROL_PASSWORD, email: 'c.jones@example.com', kind: 'user' },
  dana: { password: DANA_PASSWORD, email: 'dana@example.com', kind: 'user', mustChange: true },
};

/** A directory over a fixed table: wrong passwords, unknown users and outages as LDAP has them. */
class TableDirectory implements PasswordAuthenticator {
  readonly provider = 'directory';
  calls = 0;
  passwordChecks = 0;
  down = false;
  gate: Promise<void> | undefined;
  /**
   * Uses the sign-in context as a search-then-bind directory does: the account's key once the
   * name is found, before the password; `passwordAccepted()` for a right but refused password.
   * Off, it is a custom authenticator written before the context existed.
   */
  usesContext = false;

  async authenticate(
    { username, password }: PasswordCredentials,
    context?: PasswordSignInContext,
  ): Promise<Identity> {
    this.calls += 1;
    if (this.gate !== undefined) await this.gate;
    if (this.down) {
      throw new IdentityError(
        'identity_provider_unavailable',
        'The directory at ldaps://dc1.example.com:636 did not answer.',
      );
    }
    const key = username.toLowerCase();
    const name = Object.keys(USERS).find(
      (candidate) => candidate === key || USERS[candidate]?.email === key,
    );
    const entry = name === undefined ? undefined : USERS[name];
    if (this.usesContext && name !== undefined) context?.guardAccount(`uid=${name}`);
    this.passwordChecks += 1;
    if (name === undefined || entry === undefined || entry.password !== password) {
      throw new IdentityError('invalid_credentials', 'The username or password is not correct.');
    }
    if (entry.mustChange === true) {
      if (this.usesContext) context?.passwordAccepted();
      throw new IdentityError('invalid_credentials', 'The password must be changed first.');
    }
    return createIdentity({
      subject: `uid=${name},ou=people,dc=example,dc=com`,
      issuer: 'ldaps://dc1.example.com',
      provider: this.provider,
      kind: entry.kind,
      ...(entry.kind === 'service' ? { serviceAccountRule: 'deny-list' } : {}),
      username: name,
      email: entry.email,
      name: `${name[0]?.toUpperCase() ?? ''}${name.slice(1)} Example`,
      groups: ['Sales-Team'],
      roles: ['sales_readonly'],
      scopes: [],
      attributes: {},
    });
  }
}

function clock(start = Date.now()) {
  let current = start;
  return {
    now: () => current,
    advance(ms: number) {
      current += ms;
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface SessionBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: Record<string, unknown>;
}

const body = (res: Response): SessionBody => res.body as SessionBody;

afterAll(closeServers);

describe.each(EXPRESS_VERSIONS)('sessionRoutes() on %s', (_name, express) => {
  let audit: MemoryAuditSink;
  let sessions: SessionTokens;
  let directory: TableDirectory;
  let agent: Awaited<ReturnType<typeof serve>>;

  async function start(options: Partial<SessionRoutesOptions> = {}) {
    audit = createMemoryAuditSink();
    sessions = createSessionTokens({
      issuer: ISSUER,
      audience: AUDIENCE,
      signingKeys: [generateSigningKey()],
    });
    directory = new TableDirectory();
    const app = express();
    app.use(
      '/auth',
      sessionRoutes({ tokens: sessions, passwordSignIn: directory, audit, ...options }),
    );
    app.get('/.well-known/jwks.json', jwksRoute(sessions));
    const guard = authenticate({ issuers: [sessions.trustedIssuer()], audit });
    app.post('/ai/chat', guard, requireUser(), (req, res) => {
      res.json({ user: req.identity?.username, provider: req.identity?.provider });
    });
    app.post('/ai/mint', guard, requireUser(), (req, res, next) => {
      sessions
        .mint(req.identity!, {
          audience: 'https://orders.internal',
          agent: 'ai-assistant',
          ttlSec: 60,
        })
        .then((token) => res.json({ token }), next);
    });
    app.use(identityErrorHandler());
    agent = await serve(app);
  }

  const signIn = (
    form: Record<string, unknown> = { username: 'alice', password: ALICE_PASSWORD },
  ) => agent.post('/auth/session').send(form);
  const chat = (token: string) => agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
  const sessionEvents = () =>
    audit.events.filter((event) =>
      ['sign_in', 'session_refresh', 'sign_out'].includes(event.action),
    );

  describe('the session life', () => {
    test('sign in, use the access token on a guarded route, as the directory provider', async () => {
      await start();
      const res = await signIn();
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-request-id']).toBeDefined();
      expect(body(res)).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 86_400,
        refresh_token: expect.any(String),
        refresh_expires_in: 20_160 * 60,
        user: {
          subject: 'uid=alice,ou=people,dc=example,dc=com',
          username: 'alice',
          email: 'alice@example.com',
          name: 'Alice Example',
          groups: ['Sales-Team'],
          roles: ['sales_readonly'],
          provider: 'directory',
        },
      });
      const used = await chat(body(res).access_token);
      expect(used.status).toBe(200);
      expect(used.body).toEqual({ user: 'alice', provider: directory.provider });
      expect(sessionEvents()).toEqual([
        expect.objectContaining({
          action: 'sign_in',
          outcome: 'allowed',
          reason: 'ok',
          user: 'alice',
          provider: 'directory',
          resource: 'POST /auth/session',
          request_id: res.headers['x-request-id'],
          details: { username: 'alice', session_id: expect.any(String) },
        }),
      ]);
    });

    test('a form-encoded sign-in by email works too', async () => {
      await start();
      const res = await agent
        .post('/auth/session')
        .type('form')
        .send({ email: 'alice@example.com', password: ALICE_PASSWORD });
      expect(res.status).toBe(200);
      expect(body(res).user['username']).toBe('alice');
    });

    test('refresh: new tokens that work; the spent refresh token replayed ends the session', async () => {
      await start();
      const first = body(await signIn());
      const res = await agent
        .post('/auth/session/refresh')
        .send({ refresh_token: first.refresh_token });
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const second = body(res);
      expect(second.access_token).not.toBe(first.access_token);
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(second.user['username']).toBe('alice');
      expect((await chat(second.access_token)).status).toBe(200);

      const replay = await agent
        .post('/auth/session/refresh')
        .type('form')
        .send({ refresh_token: first.refresh_token });
      expectRefusal(replay, {
        status: 401,
        code: 'refresh_token_invalid',
        bearerError: 'invalid_token',
      });
      expect((replay.body as { message: string }).message).toMatch(/already used/);
      expectRefusal(await chat(second.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
      expect(sessionEvents().map((event) => [event.action, event.outcome, event.reason])).toEqual([
        ['sign_in', 'allowed', 'ok'],
        ['session_refresh', 'allowed', 'ok'],
        ['session_refresh', 'denied', 'refresh_token_invalid'],
      ]);
      expect(sessionEvents()[1]).toMatchObject({ user: 'alice', provider: 'directory' });
      expect(sessionEvents()[2]?.details).toMatchObject({ reuse: true });
    });

    test('sign out with the access token: 204, then the token is refused as revoked', async () => {
      await start();
      const session = body(await signIn());
      const res = await agent
        .delete('/auth/session')
        .set('Authorization', `Bearer ${session.access_token}`);
      expect(res.status).toBe(204);
      expectRefusal(await chat(session.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
      expectRefusal(
        await agent.post('/auth/session/refresh').send({ refresh_token: session.refresh_token }),
        { status: 401, code: 'refresh_token_invalid', bearerError: 'invalid_token' },
      );
      expect(sessionEvents()[1]).toMatchObject({
        action: 'sign_out',
        outcome: 'allowed',
        user: 'alice',
      });
    });

    test('sign out with the refresh token in the body: 204, and the access token is refused', async () => {
      await start();
      const session = body(await signIn());
      const res = await agent
        .delete('/auth/session')
        .send({ refresh_token: session.refresh_token });
      expect(res.status).toBe(204);
      expectRefusal(await chat(session.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
    });
  });

  describe('refusals', () => {
    test.each([
      ['no password', { username: 'alice' }, /non-empty "password"/],
      ['an empty password', { username: 'alice', password: '' }, /non-empty "password"/],
      ['a non-string password', { username: 'alice', password: 12345 }, /non-empty "password"/],
      ['no username', { password: ALICE_PASSWORD }, /non-empty "username"/],
      ['an empty username', { username: '', password: ALICE_PASSWORD }, /non-empty "username"/],
      [
        'both username and email',
        { username: 'alice', email: 'alice@example.com', password: ALICE_PASSWORD },
        /"username" or "email", not both/,
      ],
    ])('%s: 400 invalid_request, and the directory is not asked', async (_case, form, message) => {
      await start();
      const res = await signIn(form);
      expectRefusal(res, { status: 400, code: 'invalid_request', bearerError: 'invalid_request' });
      expect((res.body as { message: string }).message).toMatch(message);
      expect(directory.calls).toBe(0);
    });

    test('malformed JSON: 400 invalid_request', async () => {
      await start();
      const res = await agent
        .post('/auth/session')
        .set('Content-Type', 'application/json')
        .send('{"username": "alice", "password": ');
      expectRefusal(res, { status: 400, code: 'invalid_request', bearerError: 'invalid_request' });
      expect((res.body as { message: string }).message).toMatch(/could not be parsed/);
    });

    test('a body over 8 KiB: 413 request_too_large', async () => {
      await start();
      const res = await signIn({ username: 'alice', password: 'x'.repeat(9 * 1024) });
      expectRefusal(res, { status: 413, code: 'request_too_large' });
      expect((res.body as { message: string }).message).toMatch(/larger than 8192 bytes/);
      expect(directory.calls).toBe(0);
    });

    test('another media type: 415 unsupported_media_type', async () => {
      await start();
      const res = await agent
        .post('/auth/session')
        .set('Content-Type', 'text/plain')
        .send(`username=alice&password=${ALICE_PASSWORD}`);
      expectRefusal(res, { status: 415, code: 'unsupported_media_type' });
      expect((res.body as { message: string }).message).toMatch(/application\/json/);
    });

    test('a wrong password and an unknown user get the same 401 invalid_credentials', async () => {
      await start();
      const wrong = await signIn({ username: 'alice', password: WRONG_PASSWORD });
      const unknown = await signIn({ username: 'mallory', password: WRONG_PASSWORD });
      for (const res of [wrong, unknown]) {
        expectRefusal(res, { status: 401, code: 'invalid_credentials', bearerError: null });
        expect((res.body as { message: string }).message).toMatch(/username or password/);
      }
      expect(wrong.body).toEqual({ ...unknown.body, request_id: wrong.headers['x-request-id'] });
    });

    test('a service account with the right password: 403 service_account_refused', async () => {
      await start();
      const res = await signIn({ username: 'svc-backup', password: SVC_PASSWORD });
      expectRefusal(res, { status: 403, code: 'service_account_refused' });
      expect((res.body as { message: string }).message).toMatch(/sessions are issued to people/);
      expect(sessionEvents()[0]).toMatchObject({
        action: 'sign_in',
        outcome: 'denied',
        reason: 'service_account_refused',
        details: { username: 'svc-backup', rule: 'deny-list' },
      });
    });

    test('refresh without a token: 400; with a bad one or an access token: 401 refresh_token_invalid', async () => {
      await start();
      expectRefusal(await agent.post('/auth/session/refresh').send({}), {
        status: 400,
        code: 'invalid_request',
        bearerError: 'invalid_request',
      });
      const session = body(await signIn());
      for (const token of ['not-a-token', session.access_token]) {
        expectRefusal(await agent.post('/auth/session/refresh').send({ refresh_token: token }), {
          status: 401,
          code: 'refresh_token_invalid',
          bearerError: 'invalid_token',
        });
      }
    });

    test('a refresh token used as a bearer token: 401 token_type_invalid', async () => {
      await start();
      const session = body(await signIn());
      // Its audience is the refresh endpoint's, not the API's, and its type is rt+jwt.
      expect(decodeJwt(session.refresh_token).aud).toBe(`${ISSUER}#refresh`);
      const res = await chat(session.refresh_token);
      expectRefusal(res, { status: 401, code: 'token_type_invalid', bearerError: 'invalid_token' });
      expect((res.body as { message: string }).message).toMatch(/typ "at\+jwt"/);
    });

    test('sign out with no token: 401 credentials_missing; a bad one: 401; one in the URL: 400', async () => {
      await start();
      expectRefusal(await agent.delete('/auth/session'), {
        status: 401,
        code: 'credentials_missing',
        bearerError: null,
      });
      expectRefusal(
        await agent.delete('/auth/session').set('Authorization', 'Bearer not.a.token'),
        {
          status: 401,
          code: 'token_malformed',
          bearerError: 'invalid_token',
        },
      );
      const session = body(await signIn());
      expectRefusal(await agent.delete(`/auth/session?access_token=${session.access_token}`), {
        status: 400,
        code: 'token_in_url',
        bearerError: 'invalid_request',
      });
      expect(JSON.stringify(audit.events)).not.toContain(session.access_token);
    });
  });

  describe('throttle', () => {
    test('4 wrong passwords, then 429 with Retry-After even for the right one, until the window ends', async () => {
      const time = clock();
      await start({ now: time.now });
      for (const username of ['alice', 'Alice', 'ALICE', 'alice']) {
        expectRefusal(await signIn({ username, password: WRONG_PASSWORD }), {
          status: 401,
          code: 'invalid_credentials',
          bearerError: null,
        });
      }
      const blocked = await signIn();
      expectRefusal(blocked, { status: 429, code: 'too_many_attempts' });
      expect(blocked.headers['retry-after']).toBe('900');
      expect((blocked.body as { message: string }).message).toMatch(/Too many failed sign-in/);
      expect(directory.calls).toBe(4);
      expect(sessionEvents().at(-1)).toMatchObject({
        outcome: 'denied',
        reason: 'too_many_attempts',
        details: { username: 'alice', scope: 'account' },
      });
      // Another account from the same client is not blocked.
      expect((await signIn({ username: 'bob', password: 'bob-password-0000' })).status).toBe(200);
      time.advance(WINDOW_MS - 5 * 60 * 1000);
      expect((await signIn()).headers['retry-after']).toBe('300');
      time.advance(5 * 60 * 1000);
      expect((await signIn()).status).toBe(200);
    });

    test('a successful sign-in clears the account count', async () => {
      await start({ now: clock().now });
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 3; i++) {
          expect((await signIn({ username: 'alice', password: WRONG_PASSWORD })).status).toBe(401);
        }
        expect((await signIn()).status).toBe(200);
      }
    });

    test('8 concurrent wrong attempts: only 4 reach the directory, the rest get 429', async () => {
      await start({ now: clock().now });
      let release: () => void = () => undefined;
      directory.gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let settled = 0;
      const pending = Array.from({ length: 8 }, () =>
        signIn({ username: 'alice', password: WRONG_PASSWORD }).then((res) => {
          settled += 1;
          return res;
        }),
      );
      // Every request has either reached the directory (and waits there) or been answered.
      await until(() => directory.calls + settled === 8);
      release();
      const statuses = (await Promise.all(pending)).map((res) => res.status).sort();
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
      expect(directory.calls).toBe(4);
    });

    test('a directory outage does not count against the account', async () => {
      await start({ now: clock().now });
      directory.down = true;
      for (let i = 0; i < 6; i++) {
        const res = await signIn({ username: 'alice', password: WRONG_PASSWORD });
        expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
        // The directory's address stays in the audit trail, out of the response.
        expect(JSON.stringify(res.body)).not.toContain('dc1.example.com');
      }
      expect(sessionEvents().at(-1)).toMatchObject({
        outcome: 'error',
        reason: 'identity_provider_unavailable',
      });
      directory.down = false;
      for (let i = 0; i < 4; i++) {
        expect((await signIn({ username: 'alice', password: WRONG_PASSWORD })).status).toBe(401);
      }
      expectRefusal(await signIn(), { status: 429, code: 'too_many_attempts' });
    });

    test('password spraying: the per-client limit blocks new usernames too', async () => {
      await start({ now: clock().now, throttle: { maxFailuresPerClient: 3 } });
      for (const username of ['alice', 'bob', 'carol']) {
        expect((await signIn({ username, password: WRONG_PASSWORD })).status).toBe(401);
      }
      const res = await signIn({ username: 'dave', password: WRONG_PASSWORD });
      expectRefusal(res, { status: 429, code: 'too_many_attempts' });
      expect(sessionEvents().at(-1)?.details).toMatchObject({ scope: 'client' });
      expect(directory.calls).toBe(3);
    });

    test('an authenticator that resolves the account: its names share one allowance, refused before the password is checked', async () => {
      const time = clock();
      await start({ now: time.now });
      directory.usesContext = true;
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const username = i % 2 === 0 ? 'carol' : 'c.jones@example.com';
        statuses.push((await signIn({ username, password: WRONG_PASSWORD })).status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
      expect(directory.passwordChecks).toBe(4);
      const blocked = await signIn({ username: 'carol', password: CAROL_PASSWORD });
      expectRefusal(blocked, { status: 429, code: 'too_many_attempts' });
      expect(blocked.headers['retry-after']).toBe('900');
      expect(sessionEvents().at(-1)).toMatchObject({
        outcome: 'denied',
        reason: 'too_many_attempts',
        details: { username: 'carol', scope: 'account' },
      });
      expect(directory.passwordChecks).toBe(4);
      time.advance(WINDOW_MS);
      const right = await signIn({ username: 'c.jones@example.com', password: CAROL_PASSWORD });
      expect(right.status).toBe(200);
    });

    test('control: an authenticator that ignores the context still works, throttled by the name typed', async () => {
      await start({ now: clock().now });
      for (let i = 0; i < 8; i++) {
        const username = i % 2 === 0 ? 'carol' : 'c.jones@example.com';
        expect((await signIn({ username, password: WRONG_PASSWORD })).status).toBe(401);
      }
      // Each name had its own allowance: what a lockout at 5 would not survive.
      expect(directory.passwordChecks).toBe(8);
      expectRefusal(await signIn({ username: 'carol', password: CAROL_PASSWORD }), {
        status: 429,
        code: 'too_many_attempts',
      });
    });

    test('a refusal after the right password (must change) is not a guess; wrong ones still count', async () => {
      await start({ now: clock().now });
      directory.usesContext = true;
      for (let i = 0; i < 6; i++) {
        expectRefusal(await signIn({ username: 'dana', password: DANA_PASSWORD }), {
          status: 401,
          code: 'invalid_credentials',
          bearerError: null,
        });
      }
      for (let i = 0; i < 4; i++) {
        expect((await signIn({ username: 'dana', password: WRONG_PASSWORD })).status).toBe(401);
      }
      expectRefusal(await signIn({ username: 'dana', password: DANA_PASSWORD }), {
        status: 429,
        code: 'too_many_attempts',
      });
    });

    test('control: without passwordAccepted(), the right but refused password counts', async () => {
      await start({ now: clock().now });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        statuses.push((await signIn({ username: 'dana', password: DANA_PASSWORD })).status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 429]);
    });

    test('throttle: false lets every attempt reach the directory', async () => {
      await start({ throttle: false });
      for (let i = 0; i < 7; i++) {
        expect((await signIn({ username: 'alice', password: WRONG_PASSWORD })).status).toBe(401);
      }
      expect(directory.calls).toBe(7);
    });
  });

  describe('audit', () => {
    test('one event per outcome, and no password or token in any of them', async () => {
      await start({ now: clock().now });
      const responses: Response[] = [];
      responses.push(await signIn());
      const session = body(responses[0]!);
      responses.push(await signIn({ username: 'alice', password: WRONG_PASSWORD }));
      responses.push(await signIn({ username: 'alice' }));
      responses.push(
        await agent
          .post('/auth/session')
          .set('Content-Type', 'text/plain')
          .send(`password=${ALICE_PASSWORD}`),
      );
      responses.push(
        await signIn({ username: 'alice', password: `${WRONG_PASSWORD}${'y'.repeat(9000)}` }),
      );
      responses.push(
        await agent.post('/auth/session/refresh').send({ refresh_token: session.refresh_token }),
      );
      const refreshed = body(responses.at(-1)!);
      responses.push(
        await agent
          .delete('/auth/session')
          .set('Authorization', `Bearer ${refreshed.access_token}`),
      );
      expect(responses.map((res) => res.status)).toEqual([200, 401, 400, 415, 413, 200, 204]);
      const events = sessionEvents();
      expect(events.map((event) => [event.action, event.outcome, event.reason])).toEqual([
        ['sign_in', 'allowed', 'ok'],
        ['sign_in', 'denied', 'invalid_credentials'],
        ['sign_in', 'denied', 'invalid_request'],
        ['sign_in', 'denied', 'unsupported_media_type'],
        ['sign_in', 'denied', 'request_too_large'],
        ['session_refresh', 'allowed', 'ok'],
        ['sign_out', 'allowed', 'ok'],
      ]);
      expect(events.map((event) => event.request_id)).toEqual(
        responses.map((res) => res.headers['x-request-id']),
      );
      expect(events[1]).toMatchObject({ user: null, details: { username: 'alice' } });
      const serialized = JSON.stringify(audit.events);
      for (const secret of [
        ALICE_PASSWORD,
        WRONG_PASSWORD,
        session.access_token,
        session.refresh_token,
        refreshed.access_token,
        refreshed.refresh_token,
      ]) {
        expect(serialized).not.toContain(secret);
      }
      // The only trace of the password field is its name, where a request left it out.
      expect(serialized).not.toMatch(/"password":/);
    });
  });

  describe('audit failure policy', () => {
    test('fail-closed: no token leaves without its audit record', async () => {
      const failures: unknown[] = [];
      await start({
        auditFailurePolicy: 'fail-closed',
        onAuditFailure: (error) => failures.push(error),
      });
      const working = body(await signIn());
      audit.log = () => Promise.reject(new Error('audit database is down'));
      for (const res of [
        await signIn(),
        await agent.post('/auth/session/refresh').send({ refresh_token: working.refresh_token }),
      ]) {
        expectRefusal(res, { status: 503, code: 'audit_unavailable' });
        expect(res.text).not.toMatch(/eyJ/);
        expect(res.text).not.toContain('audit database');
      }
      expect(failures).toHaveLength(2);
    });

    test('fail-open: a failing sink is reported and the sign-in goes on', async () => {
      const failures: unknown[] = [];
      await start({ onAuditFailure: (error) => failures.push(error) });
      audit.log = () => {
        throw new Error('disk full');
      };
      expect((await signIn()).status).toBe(200);
      expect(failures).toEqual([expect.objectContaining({ message: 'disk full' })]);
    });
  });

  describe('jwksRoute()', () => {
    test('serves the public keys, and a token minted for a signed-in user verifies against it', async () => {
      await start();
      const res = await agent.get('/.well-known/jwks.json');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
      expect(res.headers['cache-control']).toBe('public, max-age=300');
      const served = JSON.parse(res.text) as { keys: Record<string, unknown>[] };
      expect(served).toEqual(JSON.parse(JSON.stringify(sessions.jwks)));
      expect(served.keys[0]).not.toHaveProperty('d');

      const session = body(await signIn());
      const minted = await agent
        .post('/ai/mint')
        .set('Authorization', `Bearer ${session.access_token}`);
      expect(minted.status).toBe(200);
      const jwks = createRemoteJWKSet(new URL(res.request.url));
      const { payload, protectedHeader } = await jwtVerify(
        (minted.body as { token: string }).token,
        jwks,
        { issuer: ISSUER, audience: 'https://orders.internal', typ: 'at+jwt' },
      );
      expect(protectedHeader.kid).toBe(served.keys[0]?.['kid']);
      expect(payload).toMatchObject({
        // Pairwise with the directory the person came from: distinct across issuers.
        sub: subjectFor(
          {
            issuer: 'ldaps://dc1.example.com',
            subject: 'uid=alice,ou=people,dc=example,dc=com',
          } as Identity,
          ISSUER,
        ),
        idp: 'directory',
        act: { sub: 'ai-assistant' },
        client_id: 'ai-assistant',
      });
      // The session's access token is for the application, not for the upstream.
      await expect(
        jwtVerify(session.access_token, jwks, {
          issuer: ISSUER,
          audience: 'https://orders.internal',
        }),
      ).rejects.toThrow(/aud/);
    });
  });
});
