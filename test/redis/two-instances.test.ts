// Two instances of one deployment (A and B: the same configuration, keys and issuer) behind a
// round-robin proxy, sharing one real redis-server with persistence through
// createRedisStores(): what one instance learns (a sign-out, a SAML request, a user's refreshed
// IdP tokens, failed passwords) the other must know, an outage of Redis is a 503 and never a
// 401, and Redis holds no secret in clear. Real servers throughout: slapd, a signing SAML IdP,
// oidc-provider, an upstream API on 127.0.0.1.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { decodeJwt } from 'jose';
import { Client } from 'ldapts';
import { createClient } from 'redis';
import request, { type Response } from 'supertest';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  requireUser,
  sessionRoutes,
  type AuditEvent,
  type MemoryAuditSink,
} from 'express-identity-passthrough';
import { createLdapAuthenticator } from 'express-identity-passthrough/ldap';
import {
  createOidcSignIn,
  exchangeStrategy,
  oidcRoutes,
  oidcSessionStrategy,
  type IdpTokens,
  type OidcTokenStore,
} from 'express-identity-passthrough/oidc';
import { createRedisStores, type RedisStores } from 'express-identity-passthrough/redis';
import { createSamlSignIn, samlRoutes } from 'express-identity-passthrough/saml';
import { expectRefusal } from '../helpers/http.js';
import { startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { redisCommand, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startRoundRobinProxy, type RoundRobinProxy } from '../helpers/round-robin-proxy.js';
import { createSamlIdp, type ResponseInput, type SamlIdp } from '../helpers/saml-idp.js';
import {
  SLAPD_ADMIN,
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';

const AUDIENCE = 'api://ai-assistant';
const SP_ENTITY_ID = 'https://assistant.example.test/saml/metadata';
/** What Redis may take to answer before a request answers 503: short, so outages show fast. */
const COMMAND_TIMEOUT_MS = 500;
/** What a request needing Redis may take in an outage: the command timeout, and some slack. */
const OUTAGE_ANSWER_MS = COMMAND_TIMEOUT_MS + 1_000;
/** The IdP's access tokens live 10 s; the sign-in refreshes those with under 5 s left. */
const IDP_ACCESS_TOKEN_TTL_SEC = 10;
const REFRESH_BEFORE_EXPIRY_SEC = 5;
const SAML_ATTRIBUTES = {
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name': 'saml.user@example.test',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress': 'saml.user@example.test',
  'http://schemas.microsoft.com/identity/claims/displayname': 'Saml User',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups': ['Sales-Team'],
};
const SAML_NAME_ID = 'saml.user@example.test';
const { alice } = SLAPD_USERS;

/** What every instance of the deployment shares: its public address, keys and providers. */
interface Deployment {
  readonly origin: string;
  readonly signingKey: ReturnType<typeof generateSigningKey>;
  readonly encryptionKey: Buffer;
  readonly slapd: Slapd;
  readonly samlIdp: SamlIdp;
  readonly oidcIdp: OidcIdp;
  /** Called with the user's own IdP token (`oidc-session`). */
  readonly api: RecordingUpstream;
  /** Called with a token exchanged for it (RFC 8693). */
  readonly data: RecordingUpstream;
  /** The deployment's clock as the OIDC sign-in sees it: real time plus `skewMs`. */
  readonly clock: { skewMs: number };
}

/** One running instance of the application. */
interface Instance {
  readonly name: string;
  readonly url: string;
  readonly agent: ReturnType<typeof request>;
  readonly audit: MemoryAuditSink;
  /** Every IdP token set the OIDC sign-in gave its store, in clear (for the Redis scan). */
  readonly idpTokens: IdpTokens[];
}

/** Secrets seen in the flows, by label: none may appear in any Redis key or value. */
const secrets = new Map<string, string>();
function remember(label: string, value: string | undefined): void {
  if (value === undefined || value === '') throw new Error(`no ${label} to remember`);
  secrets.set(`${label} #${secrets.size}`, value);
}

let redisServer: RedisServer;
let deployment: Deployment;
let proxy: RoundRobinProxy;
let a: Instance;
let b: Instance;
const redisErrors: Error[] = [];
/** How to close what the suite started, run last-started first in afterAll. */
const cleanups: (() => Promise<unknown>)[] = [];

/** Resolves to what `starting` resolves to, once its `close` is registered for afterAll. */
async function owned<T>(starting: Promise<T>, close: (started: T) => Promise<unknown>) {
  const started = await starting;
  cleanups.push(() => close(started));
  return started;
}

/** A server listening on 127.0.0.1 with no app yet: its address is needed to configure the app. */
async function listening(): Promise<{ server: Server; url: string }> {
  const server = createServer();
  await owned(
    new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Passes to the Redis store, and keeps in clear what it was given to encrypt. */
function recordingTokenStore(store: OidcTokenStore, seen: IdpTokens[]): OidcTokenStore {
  const { lock } = store;
  return {
    get: (sessionId) => store.get(sessionId),
    set(sessionId, tokens) {
      seen.push(tokens);
      return store.set(sessionId, tokens);
    },
    delete: (sessionId) => store.delete(sessionId),
    ...(lock === undefined ? {} : { lock: (sessionId, ttlMs) => lock(sessionId, ttlMs) }),
  };
}

/**
 * The application, as each instance runs it: LDAP password sign-in, SAML and OIDC browser
 * sign-in, session tokens checked on /ai, and an upstream called with the user's IdP token.
 * With `stores`, everything shared goes to Redis; without, the package's memory defaults.
 */
function buildApp(
  shared: Deployment,
  stores: RedisStores | undefined,
  audit: MemoryAuditSink,
  idpTokens: IdpTokens[],
) {
  const { origin, slapd, samlIdp, oidcIdp } = shared;
  const sessions = createSessionTokens({
    issuer: origin,
    audience: AUDIENCE,
    signingKeys: [shared.signingKey],
    ...(stores === undefined ? {} : { store: stores.sessions }),
  });
  const directory = createLdapAuthenticator({
    type: 'ldap',
    host: '127.0.0.1',
    port: Number(new URL(slapd.ldapsUrl).port),
    ca: slapd.ca,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
    mapping: { role_mapping: { 'ai-users': 'assistant_user' } },
    serviceAccounts: { ous: [`ou=Service Accounts,${SLAPD_BASE_DN}`] },
  });
  const saml = createSamlSignIn({
    entityId: SP_ENTITY_ID,
    acsUrl: `${origin}/auth/saml/acs`,
    idp: { entityId: samlIdp.entityId, ssoUrl: samlIdp.ssoUrl, certificates: [samlIdp.cert] },
    preset: 'entra',
    ...(stores === undefined
      ? {}
      : { assertionStore: stores.samlAssertions, requestStore: stores.samlRequests }),
  });
  const oidc = createOidcSignIn({
    provider: 'generic',
    client_id: oidcIdp.clientId,
    client_secret: oidcIdp.clientSecret,
    issuer: oidcIdp.issuer,
    redirect_uri: `${origin}/auth/oidc/callback`,
    refreshBeforeExpirySec: REFRESH_BEFORE_EXPIRY_SEC,
    now: () => Date.now() + shared.clock.skewMs,
    ...(stores === undefined
      ? {}
      : { tokenStore: recordingTokenStore(stores.oidcTokens, idpTokens) }),
  });
  const passthrough = createPassthrough({
    upstreams: {
      api: {
        origin: shared.api.origin,
        audience: oidcIdp.apiAudience,
        strategy: oidcSessionStrategy({ oidc, tokens: sessions }),
      },
      data: {
        origin: shared.data.origin,
        audience: oidcIdp.dataAudience,
        strategy: exchangeStrategy({
          oidc,
          tokens: sessions,
          ...(stores === undefined ? {} : { cache: stores.exchangedTokens }),
        }),
      },
    },
    audit,
  });
  const app = express();
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    '/auth',
    sessionRoutes({
      tokens: sessions,
      passwordSignIn: directory,
      audit,
      ...(stores === undefined ? {} : { throttle: stores.signInThrottle() }),
    }),
  );
  app.use('/auth/saml', samlRoutes({ saml, tokens: sessions, audit }));
  app.use('/auth/oidc', oidcRoutes({ oidc, tokens: sessions, audit }));
  app.use(
    '/ai',
    authenticate({
      issuers: [sessions.trustedIssuer()],
      sessionCookie: { allowedOrigins: [origin] },
      audit,
    }),
  );
  app.get('/ai/whoami', requireUser(), (req, res) => {
    res.json({ user: req.identity?.username, provider: req.identity?.provider });
  });
  app.get('/ai/call/:upstream', requireUser(), async (req, res, next) => {
    try {
      const upstream = req.params['upstream'] === 'data' ? shared.data : shared.api;
      const answer = await passthrough.fetch(`${upstream.origin}/records`);
      // Reading the body completes the call, and so its audit event.
      await answer.text();
      res.json({ status: answer.status });
    } catch (error) {
      next(error);
    }
  });
  app.use(identityErrorHandler());
  return app;
}

/** Starts an instance on `server`: with a Redis client of its own, or on memory stores. */
async function startInstance(
  name: string,
  at: { server: Server; url: string },
  redisUrl: string | undefined,
): Promise<Instance> {
  let stores: RedisStores | undefined;
  if (redisUrl !== undefined) {
    // No offline queue: a command while Redis is away fails at once instead of waiting for it.
    const client = createClient({ url: redisUrl, disableOfflineQueue: true });
    // Required: without a listener, a lost connection is an uncaught exception.
    client.on('error', (error: Error) => redisErrors.push(error));
    await owned(client.connect(), () => {
      client.destroy();
      return Promise.resolve();
    });
    stores = createRedisStores({
      client,
      encryptionKeys: [{ id: 'k1', key: deployment.encryptionKey }],
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
  }
  const audit = createMemoryAuditSink();
  const idpTokens: IdpTokens[] = [];
  at.server.on('request', buildApp(deployment, stores, audit, idpTokens));
  return { name, url: at.url, agent: request(at.url), audit, idpTokens };
}

beforeAll(async () => {
  const [redisStarted, slapd, oidcIdp, api, data, serverA, serverB] = await Promise.all([
    owned(startRedisServer({ persistence: true }), (redis) => redis.destroy()),
    owned(startSlapd(), (started) => started.stop()),
    owned(startOidcProvider({ accessTokenTtlSec: IDP_ACCESS_TOKEN_TTL_SEC }), (idp) => idp.stop()),
    owned(createRecordingUpstream(), (upstream) => upstream.close()),
    owned(createRecordingUpstream(), (upstream) => upstream.close()),
    listening(),
    listening(),
  ]);
  redisServer = redisStarted;
  proxy = await owned(
    startRoundRobinProxy([
      { name: 'A', url: serverA.url },
      { name: 'B', url: serverB.url },
    ]),
    (started) => started.close(),
  );
  const samlIdp = await createSamlIdp({
    acsUrl: `${proxy.origin}/auth/saml/acs`,
    spEntityId: SP_ENTITY_ID,
  });
  oidcIdp.addRedirectUri(`${proxy.origin}/auth/oidc/callback`);
  deployment = {
    origin: proxy.origin,
    signingKey: generateSigningKey(),
    encryptionKey: randomBytes(32),
    slapd,
    samlIdp,
    oidcIdp,
    api,
    data,
    clock: { skewMs: 0 },
  };
  a = await startInstance('A', serverA, redisServer.url);
  b = await startInstance('B', serverB, redisServer.url);
}, 60_000);

afterAll(async () => {
  // Clients before the servers they talk to, the proxy before its instances.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---- helpers of the flows ----

interface SessionBody {
  access_token: string;
  refresh_token: string;
}

function through(instance: Instance | RoundRobinProxy) {
  return 'agent' in instance ? instance.agent : request(instance.origin);
}

function passwordSignIn(at: Instance | RoundRobinProxy, username: string, password: string) {
  return through(at).post('/auth/session').send({ username, password });
}

function whoami(at: Instance | RoundRobinProxy, token: string) {
  return through(at).get('/ai/whoami').set('Authorization', `Bearer ${token}`);
}

/** Signs in, checks it worked, and remembers what must never reach Redis in clear. */
async function signedIn(at: Instance, username: string, password: string): Promise<SessionBody> {
  const res = await passwordSignIn(at, username, password);
  expect(res.status).toBe(200);
  const session = res.body as SessionBody;
  rememberSession(session.access_token, session.refresh_token);
  return session;
}

function rememberSession(accessToken: string, refreshToken?: string): void {
  remember('session access token', accessToken);
  remember('session id (sid)', decodeJwt(accessToken)['sid'] as string);
  if (refreshToken !== undefined) {
    remember('session refresh token', refreshToken);
    remember('refresh token id (jti)', decodeJwt(refreshToken).jti);
  }
}

/** The audit event an instance wrote for a response (by its X-Request-Id). */
function eventFor(instance: Instance, res: Response): AuditEvent | undefined {
  const id = res.headers['x-request-id'];
  expect(typeof id).toBe('string');
  return instance.audit.events.find((event) => event.request_id === id);
}

function cookieValue(res: Response, name: string): string {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const found = cookies.find((cookie) => cookie.startsWith(`${name}=`))?.split(';')[0];
  if (found === undefined) throw new Error(`no ${name} cookie in the response`);
  return found;
}

async function timed<T>(call: PromiseLike<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call;
  return { value, ms: Math.round(performance.now() - started) };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A person of our own in the directory, so that no other test's failures count against them. */
async function newPerson(prefix: string) {
  const uid = `${prefix}-${randomBytes(4).toString('hex')}`;
  const person = { uid, dn: `uid=${uid},ou=People,${SLAPD_BASE_DN}`, password: `${uid}-Pw-1` };
  const client = new Client({ url: deployment.slapd.url, timeout: 5_000 });
  try {
    await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
    await client.add(person.dn, {
      objectClass: 'inetOrgPerson',
      ...{ uid, cn: uid, sn: uid, mail: `${uid}@example.com` },
      userPassword: person.password,
    });
  } finally {
    await client.unbind();
  }
  remember('username', uid);
  remember('password', person.password);
  return person;
}

/** ppolicy's failures for an entry, and whether it locked it, awaited (bounded) to `expected`. */
async function directoryState(dn: string, expectedFailures: number) {
  const client = new Client({ url: deployment.slapd.url, timeout: 5_000 });
  try {
    await client.bind(SLAPD_ADMIN.dn, SLAPD_ADMIN.password);
    let state = { failures: -1, locked: false };
    // slapd answers a failed bind before ppolicy records it: read until it settles (2 s).
    for (let attempt = 0; attempt < 40; attempt++) {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        attributes: ['pwdFailureTime', 'pwdAccountLockedTime'],
      });
      const times = searchEntries[0]?.['pwdFailureTime'];
      const locked = searchEntries[0]?.['pwdAccountLockedTime'];
      state = {
        failures: Array.isArray(times) ? times.length : times ? 1 : 0,
        locked: Array.isArray(locked) ? locked.length > 0 : Boolean(locked),
      };
      if (state.failures === expectedFailures) break;
      await delay(50);
    }
    return state;
  } finally {
    await client.unbind();
  }
}

// ---- the flows ----

describe('1. a sign-out, or a refresh token spent, on one instance holds on the other', () => {
  test('signed in through A, signed out through B: A refuses the access and refresh tokens', async () => {
    remember('username', alice.uid);
    remember('password', alice.password);
    const signIn = await passwordSignIn(a, alice.uid, alice.password);
    expect(signIn.status).toBe(200);
    const first = signIn.body as SessionBody;
    rememberSession(first.access_token, first.refresh_token);
    expect(eventFor(a, signIn)).toMatchObject({
      action: 'sign_in',
      outcome: 'allowed',
      user: 'alice',
      provider: 'ldap',
    });

    // Positive control: the session works on both instances, and B refreshes what A issued.
    for (const instance of [a, b]) {
      const res = await whoami(instance, first.access_token);
      expect({ instance: instance.name, status: res.status, body: res.body }).toEqual({
        instance: instance.name,
        status: 200,
        body: { user: 'alice', provider: 'ldap' },
      });
    }
    const refreshed = await b.agent
      .post('/auth/session/refresh')
      .send({ refresh_token: first.refresh_token });
    expect(refreshed.status).toBe(200);
    const second = refreshed.body as SessionBody;
    rememberSession(second.access_token, second.refresh_token);
    expect((await whoami(a, second.access_token)).status).toBe(200);

    const signOut = await b.agent
      .delete('/auth/session')
      .set('Authorization', `Bearer ${second.access_token}`);
    expect(signOut.status).toBe(204);
    expect(eventFor(b, signOut)).toMatchObject({
      action: 'sign_out',
      outcome: 'allowed',
      user: 'alice',
    });

    for (const token of [second.access_token, first.access_token]) {
      const refused = await whoami(a, token);
      expectRefusal(refused, { status: 401, code: 'token_revoked', bearerError: 'invalid_token' });
      expect(eventFor(a, refused)).toMatchObject({
        action: 'authenticate',
        outcome: 'denied',
        reason: 'token_revoked',
      });
    }
    const refresh = await a.agent
      .post('/auth/session/refresh')
      .send({ refresh_token: second.refresh_token });
    expectRefusal(refresh, {
      status: 401,
      code: 'refresh_token_invalid',
      bearerError: 'invalid_token',
    });
    expect((refresh.body as { message: string }).message).toMatch(/signed out/);
    expect(eventFor(a, refresh)).toMatchObject({
      action: 'session_refresh',
      outcome: 'denied',
      reason: 'refresh_token_invalid',
    });
  });

  test('the same refresh token through A and B at once: one refresh, and the reuse ends the session everywhere', async () => {
    const person = await newPerson('refresher');
    const session = await signedIn(a, person.uid, person.password);
    const [viaA, viaB] = await Promise.all(
      [a, b].map((instance) =>
        instance.agent.post('/auth/session/refresh').send({ refresh_token: session.refresh_token }),
      ),
    );
    const outcomes = [
      { instance: a, res: viaA! },
      { instance: b, res: viaB! },
    ];
    expect(outcomes.map(({ res }) => res.status).sort()).toEqual([200, 401]);
    const winner = outcomes.find(({ res }) => res.status === 200)!;
    const loser = outcomes.find(({ res }) => res.status === 401)!;
    const refreshed = winner.res.body as SessionBody;
    rememberSession(refreshed.access_token, refreshed.refresh_token);
    expectRefusal(loser.res, {
      status: 401,
      code: 'refresh_token_invalid',
      bearerError: 'invalid_token',
    });
    expect(eventFor(loser.instance, loser.res)).toMatchObject({
      action: 'session_refresh',
      outcome: 'denied',
      details: { reuse: true },
    });
    // One of the two holders is a thief, and there is no telling which: the session ends.
    for (const instance of [a, b]) {
      expectRefusal(await whoami(instance, refreshed.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
    }
  });
});

describe('2. a SAML sign-in started on one instance completes on the other', () => {
  const answer = (inResponseTo: string, overrides: Partial<ResponseInput> = {}) =>
    deployment.samlIdp.response({
      nameId: SAML_NAME_ID,
      attributes: SAML_ATTRIBUTES,
      inResponseTo,
      ...overrides,
    });

  /** GET /auth/saml/login on an instance: the pending cookie and the AuthnRequest id. */
  async function startAt(instance: Instance) {
    const res = await instance.agent.get('/auth/saml/login?returnTo=%2Fchat');
    expect(res.status).toBe(302);
    const requestId = deployment.samlIdp.samlRequestId(res.headers['location'] as string);
    remember('SAML request id', requestId);
    return { pending: cookieValue(res, '__Host-eip-saml-pending'), requestId };
  }

  function acs(instance: Instance, pending: string, samlResponse: string) {
    return instance.agent
      .post('/auth/saml/acs')
      .type('form')
      .set('Cookie', pending)
      .send({ SAMLResponse: samlResponse, RelayState: '/chat' });
  }

  const assertionId = (samlResponse: string) =>
    /<saml:Assertion [^>]*\bID="([^"]+)"/.exec(Buffer.from(samlResponse, 'base64').toString())?.[1];

  test('login on A, ACS on B: a session on both; the same response replayed to A is refused', async () => {
    const { pending, requestId } = await startAt(a);
    const samlResponse = answer(requestId);
    const completed = await acs(b, pending, samlResponse);
    expect(completed.status).toBe(303);
    expect(completed.headers['location']).toBe('/chat');
    const cookie = cookieValue(completed, '__Host-eip-session');
    rememberSession(cookie.split('=')[1] as string);
    remember('SAML assertion id', assertionId(samlResponse));
    remember('SAML NameID', SAML_NAME_ID);
    expect(eventFor(b, completed)).toMatchObject({
      action: 'sign_in',
      outcome: 'allowed',
      provider: 'saml',
      user: SAML_NAME_ID,
    });
    for (const instance of [a, b]) {
      const res = await instance.agent.get('/ai/whoami').set('Cookie', cookie);
      expect({ instance: instance.name, body: res.body }).toEqual({
        instance: instance.name,
        body: { user: SAML_NAME_ID, provider: 'saml' },
      });
    }

    const replay = await acs(a, pending, samlResponse);
    expectRefusal(replay, { status: 401, code: 'saml_response_invalid', bearerError: null });
    expect(JSON.stringify(replay.headers['set-cookie'] ?? [])).not.toContain('eip-session=');
    // B spent the request id in Redis: A no longer knows it.
    expect(eventFor(a, replay)).toMatchObject({
      action: 'sign_in',
      outcome: 'denied',
      reason: 'saml_response_invalid',
      details: expect.objectContaining({ reason: 'in_response_to_unknown' }) as unknown,
    });
  });

  test('an assertion used on B is refused on A even inside a response to a new request of A', async () => {
    const first = await startAt(a);
    const used = answer(first.requestId);
    expect((await acs(b, first.pending, used)).status).toBe(303);
    const usedId = assertionId(used);
    remember('SAML assertion id', usedId);

    // The IdP (or a thief holding its key) signs the used assertion again, for a new request.
    const second = await startAt(a);
    const reused = answer(second.requestId, {
      beforeSigning: (xml) =>
        xml.replace(/(<saml:Assertion [^>]*\bID=")[^"]+"/, `$1${usedId ?? ''}"`),
    });
    expect(assertionId(reused)).toBe(usedId);
    const refused = await acs(a, second.pending, reused);
    expectRefusal(refused, { status: 401, code: 'saml_response_invalid', bearerError: null });
    expect(eventFor(a, refused)?.details['reason']).toBe('replayed');

    // Positive control: the same kind of response with an assertion of its own is accepted.
    const third = await startAt(a);
    const fresh = answer(third.requestId);
    remember('SAML assertion id', assertionId(fresh));
    const accepted = await acs(a, third.pending, fresh);
    expect(accepted.status).toBe(303);
    rememberSession(cookieValue(accepted, '__Host-eip-session').split('=')[1] as string);
  });

  test('the same response posted to A and B at once: one session, one refusal', async () => {
    const { pending, requestId } = await startAt(a);
    const samlResponse = answer(requestId);
    remember('SAML assertion id', assertionId(samlResponse));
    const [toA, toB] = await Promise.all([
      acs(a, pending, samlResponse),
      acs(b, pending, samlResponse),
    ]);
    const outcomes = [
      { instance: a, res: toA },
      { instance: b, res: toB },
    ];
    expect(outcomes.map(({ res }) => res.status).sort()).toEqual([303, 401]);
    for (const { instance, res } of outcomes) {
      if (res.status === 303) {
        rememberSession(cookieValue(res, '__Host-eip-session').split('=')[1] as string);
        continue;
      }
      expectRefusal(res, { status: 401, code: 'saml_response_invalid', bearerError: null });
      // Whichever check came first: the request id already spent, or the assertion already used.
      expect(eventFor(instance, res)?.details['reason']).toMatch(
        /^(in_response_to_unknown|replayed)$/,
      );
    }
  });

  test('control: instances on memory stores cannot finish a sign-in the other started', async () => {
    const [serverA, serverB] = await Promise.all([listening(), listening()]);
    const memoryA = await startInstance('memory A', serverA, undefined);
    const memoryB = await startInstance('memory B', serverB, undefined);
    const { pending, requestId } = await startAt(memoryA);
    const res = await acs(memoryB, pending, answer(requestId));
    expectRefusal(res, { status: 401, code: 'saml_response_invalid', bearerError: null });
    expect(eventFor(memoryB, res)?.details['reason']).toBe('in_response_to_unknown');
  });
});

describe('3. a user IdP token refreshed by one instance is used by the other', () => {
  const refreshGrants = () =>
    deployment.oidcIdp.tokenRequests.filter((entry) => entry.grantType === 'refresh_token');
  const bearerSent = () =>
    (deployment.api.received.at(-1)?.headers.authorization ?? '').replace(/^Bearer /, '');

  /** The OIDC sign-in through the proxy: the login and the callback reach different instances. */
  async function oidcSignIn(): Promise<string> {
    const servedBefore = proxy.served.length;
    const login = await request(proxy.origin).get('/auth/oidc/login?returnTo=%2Fchat');
    expect(login.status).toBe(302);
    const pending = cookieValue(login, '__Host-eip-oidc-pending');
    const callback = new URL(
      await deployment.oidcIdp.login(login.headers['location'] as string, 'alice'),
    );
    const res = await request(proxy.origin)
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expect(res.status).toBe(303);
    const [loginAt, callbackAt] = proxy.served.slice(servedBefore);
    expect(loginAt).not.toBe(callbackAt);
    const cookie = cookieValue(res, '__Host-eip-session');
    rememberSession(cookie.split('=')[1] as string);
    remember('OIDC username', deployment.oidcIdp.users.alice.email);
    remember('OIDC subject', deployment.oidcIdp.users.alice.sub);
    return cookie;
  }

  function callApi(instance: Instance, cookie: string) {
    return instance.agent.get('/ai/call/api').set('Cookie', cookie);
  }

  test('expired: A refreshes once, then B uses the refreshed token without refreshing', async () => {
    const cookie = await oidcSignIn();
    const before = refreshGrants().length;
    expect((await callApi(a, cookie)).body).toEqual({ status: 200 });
    const issued = bearerSent();
    // Positive control: a token that is not due is not refreshed.
    expect(refreshGrants()).toHaveLength(before);

    deployment.clock.skewMs += (IDP_ACCESS_TOKEN_TTL_SEC + 1) * 1000;
    expect((decodeJwt(issued).exp ?? 0) * 1000).toBeLessThan(Date.now() + deployment.clock.skewMs);
    const viaA = await callApi(a, cookie);
    expect(viaA.body).toEqual({ status: 200 });
    const refreshed = bearerSent();
    expect(refreshed).not.toBe(issued);
    expect(refreshGrants().slice(before)).toEqual([{ grantType: 'refresh_token' }]);
    const forwardA = a.audit.events.filter((event) => event.action === 'forward').at(-1);
    expect(forwardA).toMatchObject({ outcome: 'allowed', user: 'alice', upstream: 'api' });

    const viaB = await callApi(b, cookie);
    expect(viaB.body).toEqual({ status: 200 });
    expect(bearerSent()).toBe(refreshed);
    expect(refreshGrants()).toHaveLength(before + 1);
    const forwardB = b.audit.events.filter((event) => event.action === 'forward').at(-1);
    expect(forwardB).toMatchObject({ outcome: 'allowed', user: 'alice', upstream: 'api' });

    // The data API gets a token exchanged for it, about the same person; it goes to the cache.
    expect((await b.agent.get('/ai/call/data').set('Cookie', cookie)).body).toEqual({
      status: 200,
    });
    const exchanged = (deployment.data.received.at(-1)?.headers.authorization ?? '').replace(
      /^Bearer /,
      '',
    );
    expect(decodeJwt(exchanged)).toMatchObject({
      aud: deployment.oidcIdp.dataAudience,
      sub: deployment.oidcIdp.users.alice.sub,
    });
    remember('exchanged token', exchanged);
  });

  test('expired, used through A and B at once: exactly one refresh (the store lock)', async () => {
    const cookie = await oidcSignIn();
    expect((await callApi(b, cookie)).body).toEqual({ status: 200 });
    const before = refreshGrants().length;
    const receivedBefore = deployment.api.received.length;

    deployment.clock.skewMs += (IDP_ACCESS_TOKEN_TTL_SEC + 1) * 1000;
    const results = await Promise.all(
      [a, b, a, b, a, b].map((instance) =>
        callApi(instance, cookie).then((res) => [instance.name, res.status] as const),
      ),
    );
    expect(results).toEqual([
      ['A', 200],
      ['B', 200],
      ['A', 200],
      ['B', 200],
      ['A', 200],
      ['B', 200],
    ]);
    expect(refreshGrants().slice(before)).toEqual([{ grantType: 'refresh_token' }]);
    // Every call carried the one refreshed token.
    const sent = deployment.api.received
      .slice(receivedBefore)
      .map((entry) => entry.headers.authorization);
    expect(sent).toHaveLength(6);
    expect(new Set(sent).size).toBe(1);
  });
});

describe('4. failed passwords spread over both instances count for one account', () => {
  const WRONG = 'Wrong-Password-9';

  test('through the proxy (A,B,A,B,A,B): 401 ×4 then 429 ×2; the directory saw 4 failures, no lockout', async () => {
    const person = await newPerson('throttled');
    // The proxy's next turn is A after an even number of requests.
    if (proxy.served.length % 2 === 1) await request(proxy.origin).get('/health');
    const servedBefore = proxy.served.length;
    const outcomes: [string | undefined, number, string | undefined][] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const res = await passwordSignIn(proxy, person.uid, WRONG);
      const at = proxy.served.at(-1) === 'A' ? a : b;
      // The instance that answered wrote the audit event, and says why.
      const event = eventFor(at, res);
      outcomes.push([at.name, res.status, event?.reason]);
      if (res.status === 429) {
        expectRefusal(res, { status: 429, code: 'too_many_attempts' });
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(800);
        expect(event).toMatchObject({
          action: 'sign_in',
          outcome: 'denied',
          details: { username: person.uid, scope: 'account' },
        });
      } else {
        expectRefusal(res, { status: 401, code: 'invalid_credentials', bearerError: null });
      }
    }
    expect(proxy.served.slice(servedBefore)).toEqual(['A', 'B', 'A', 'B', 'A', 'B']);
    expect(outcomes).toEqual([
      ['A', 401, 'invalid_credentials'],
      ['B', 401, 'invalid_credentials'],
      ['A', 401, 'invalid_credentials'],
      ['B', 401, 'invalid_credentials'],
      ['A', 429, 'too_many_attempts'],
      ['B', 429, 'too_many_attempts'],
    ]);
    // The right password is refused too until the window ends: the guesser cannot tell.
    expectRefusal(await passwordSignIn(a, person.uid, person.password), {
      status: 429,
      code: 'too_many_attempts',
    });
    expect(await directoryState(person.dn, 4)).toEqual({ failures: 4, locked: false });
  });

  test('control: a pair on default memory throttles lets 4 through each (8), and the directory locks the account', async () => {
    const person = await newPerson('unshared');
    const [serverA, serverB] = await Promise.all([listening(), listening()]);
    const memoryA = await startInstance('memory A', serverA, undefined);
    const memoryB = await startInstance('memory B', serverB, undefined);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 10; attempt++) {
      const instance = attempt % 2 === 0 ? memoryA : memoryB;
      statuses.push((await passwordSignIn(instance, person.uid, WRONG)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
    // Eight guesses reached slapd, whose policy locks at the fifth: the person is locked out.
    expect(await directoryState(person.dn, 5)).toEqual({ failures: 5, locked: true });
    const reasons = [...memoryA.audit.events, ...memoryB.audit.events].map(
      (event) => event.details['reason'],
    );
    expect(reasons).toContain('account_locked');
  });
});

describe('5. Redis down: 503, never 401; back: correct answers, no revoked session revived', () => {
  test('an outage answers 503 session_store_unavailable in bounded time, and recovery is complete', async () => {
    const person = await newPerson('outage');
    const live = await signedIn(a, person.uid, person.password);
    const revoked = await signedIn(b, person.uid, person.password);
    expect(
      (await b.agent.delete('/auth/session').set('Authorization', `Bearer ${revoked.access_token}`))
        .status,
    ).toBe(204);
    // Positive control: before the outage, one session works and the other is refused.
    for (const instance of [a, b]) {
      expect((await whoami(instance, live.access_token)).status).toBe(200);
      expectRefusal(await whoami(instance, revoked.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
    }

    // Browser sign-ins begun before the outage, to be finished during it.
    const samlBegun = new Map<Instance, { pending: string; samlResponse: string }>();
    const oidcBegun = new Map<Instance, { pending: string; callback: URL }>();
    for (const instance of [a, b]) {
      const login = await instance.agent.get('/auth/saml/login?returnTo=%2Fchat');
      const requestId = deployment.samlIdp.samlRequestId(login.headers['location'] as string);
      remember('SAML request id', requestId);
      samlBegun.set(instance, {
        pending: cookieValue(login, '__Host-eip-saml-pending'),
        samlResponse: deployment.samlIdp.response({
          nameId: SAML_NAME_ID,
          attributes: SAML_ATTRIBUTES,
          inResponseTo: requestId,
        }),
      });
      const start = await instance.agent.get('/auth/oidc/login?returnTo=%2Fchat');
      oidcBegun.set(instance, {
        pending: cookieValue(start, '__Host-eip-oidc-pending'),
        callback: new URL(
          await deployment.oidcIdp.login(start.headers['location'] as string, 'alice'),
        ),
      });
    }

    /** Every request that needs Redis, on one instance: each must be a 503 in bounded time. */
    async function needingRedis(instance: Instance) {
      const saml = samlBegun.get(instance)!;
      const oidc = oidcBegun.get(instance)!;
      const calls: [string, () => PromiseLike<Response>][] = [
        ['SAML login', () => instance.agent.get('/auth/saml/login?returnTo=%2Fchat')],
        [
          'SAML ACS',
          () =>
            instance.agent
              .post('/auth/saml/acs')
              .type('form')
              .set('Cookie', saml.pending)
              .send({ SAMLResponse: saml.samlResponse, RelayState: '/chat' }),
        ],
        [
          'OIDC callback',
          () =>
            instance.agent
              .get(`${oidc.callback.pathname}${oidc.callback.search}`)
              .set('Cookie', oidc.pending),
        ],
        ['live session', () => whoami(instance, live.access_token)],
        ['revoked session', () => whoami(instance, revoked.access_token)],
        ['sign-in', () => passwordSignIn(instance, person.uid, person.password)],
        [
          'sign-out',
          () =>
            instance.agent
              .delete('/auth/session')
              .set('Authorization', `Bearer ${live.access_token}`),
        ],
        [
          'refresh',
          () =>
            instance.agent
              .post('/auth/session/refresh')
              .send({ refresh_token: live.refresh_token }),
        ],
      ];
      const took: { call: string; ms: number }[] = [];
      for (const [call, send] of calls) {
        const { value: res, ms } = await timed(send());
        took.push({ call: `${instance.name} ${call}`, ms });
        expectRefusal(res, { status: 503, code: 'session_store_unavailable' });
        expect(eventFor(instance, res)).toMatchObject({
          outcome: 'error',
          reason: 'session_store_unavailable',
          status: 503,
        });
      }
      return took;
    }

    // Redis hung (every client paused for 1.5 s): the command timeout answers, not the hang.
    await redisCommand(redisServer.port, 'CLIENT', 'PAUSE', 1_500, 'ALL');
    const hung = await timed(whoami(a, live.access_token));
    expectRefusal(hung.value, { status: 503, code: 'session_store_unavailable' });
    expect(hung.ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
    expect(hung.ms).toBeLessThan(OUTAGE_ANSWER_MS);
    await delay(1_200);

    await redisServer.stop();
    try {
      const took = [...(await needingRedis(a)), ...(await needingRedis(b))];
      expect(took).toHaveLength(16);
      expect(took.filter(({ ms }) => ms >= OUTAGE_ANSWER_MS)).toEqual([]);

      // What does not need Redis still works: the application is up, only its store is not.
      expect((await a.agent.get('/health')).status).toBe(200);
      expectRefusal(await b.agent.get('/ai/whoami'), {
        status: 401,
        code: 'credentials_missing',
        bearerError: null,
      });
    } finally {
      await redisServer.start();
    }

    // Each client reconnects on its own back-off (up to ~2.2 s): wait, bounded, never a 401.
    const seen = new Set<number>();
    for (const instance of [a, b]) {
      const deadline = Date.now() + 10_000;
      for (let attempt = 0; attempt < 200; attempt++) {
        const status = (await whoami(instance, live.access_token)).status;
        seen.add(status);
        if (status === 200) break;
        if (Date.now() > deadline) throw new Error(`${instance.name} did not recover in 10 s`);
        await delay(50);
      }
    }
    expect([...seen].filter((status) => status !== 503)).toEqual([200]);
    // The clients saw the connection go (their 'error' listeners), and came back by themselves.
    expect(redisErrors.length).toBeGreaterThan(0);

    // Persistence: the sign-out made before the outage still holds on both instances.
    for (const instance of [a, b]) {
      expectRefusal(await whoami(instance, revoked.access_token), {
        status: 401,
        code: 'token_revoked',
        bearerError: 'invalid_token',
      });
    }
    // A SAML sign-in begun before the outage is still known, and finishes on the other instance.
    const begun = samlBegun.get(a)!;
    const finished = await b.agent
      .post('/auth/saml/acs')
      .type('form')
      .set('Cookie', begun.pending)
      .send({ SAMLResponse: begun.samlResponse, RelayState: '/chat' });
    expect(finished.status).toBe(303);
    rememberSession(cookieValue(finished, '__Host-eip-session').split('=')[1] as string);
    const again = await signedIn(b, person.uid, person.password);
    expect((await whoami(a, again.access_token)).status).toBe(200);
    const out = await a.agent
      .delete('/auth/session')
      .set('Authorization', `Bearer ${again.access_token}`);
    expect(out.status).toBe(204);
    expectRefusal(await whoami(b, again.access_token), {
      status: 401,
      code: 'token_revoked',
      bearerError: 'invalid_token',
    });
  }, 30_000);
});

describe('6. no secret in Redis', () => {
  type Entry = { key: string; type: string; value: string };

  /** Every key, its type and its content, read with raw commands. */
  async function everything(): Promise<Entry[]> {
    const port = redisServer.port;
    const keys: string[] = [];
    let cursor = '0';
    for (let page = 0; page < 1_000; page++) {
      const [next, batch] = (await redisCommand(port, 'SCAN', cursor, 'COUNT', 100)) as [
        string,
        string[],
      ];
      keys.push(...batch);
      cursor = next;
      if (cursor === '0') break;
    }
    expect(cursor).toBe('0');
    const entries: Entry[] = [];
    for (const key of new Set(keys)) {
      const type = String(await redisCommand(port, 'TYPE', key));
      const read: Record<string, (string | number)[]> = {
        string: ['GET', key],
        hash: ['HGETALL', key],
        list: ['LRANGE', key, 0, -1],
        set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, 0, -1, 'WITHSCORES'],
      };
      const command = read[type];
      const value = command === undefined ? '' : await redisCommand(port, ...command);
      entries.push({ key, type, value: JSON.stringify(value) });
    }
    return entries;
  }

  function leaks(entries: readonly Entry[]): string[] {
    const found: string[] = [];
    for (const { key, value } of entries) {
      for (const [label, secret] of secrets) {
        if (key.includes(secret)) found.push(`${label} in key ${key}`);
        if (value.includes(secret)) found.push(`${label} in the value of ${key}`);
      }
    }
    return found;
  }

  test('no token, session id, SAML request id or username in any key or value', async () => {
    for (const tokens of [...a.idpTokens, ...b.idpTokens]) {
      remember('IdP access token', tokens.accessToken);
      remember('IdP refresh token', tokens.refreshToken);
    }
    // The flows above ran, and left what this test looks for.
    const labels = new Set([...secrets.keys()].map((label) => label.replace(/ #\d+$/, '')));
    expect([...labels].sort()).toEqual([
      'IdP access token',
      'IdP refresh token',
      'OIDC subject',
      'OIDC username',
      'SAML NameID',
      'SAML assertion id',
      'SAML request id',
      'exchanged token',
      'password',
      'refresh token id (jti)',
      'session access token',
      'session id (sid)',
      'session refresh token',
      'username',
    ]);

    const entries = await everything();
    const kinds = new Set(entries.map(({ key }) => key.replace(/:[^:]*$/, '')));
    expect([...kinds].sort()).toEqual(
      expect.arrayContaining([
        'eip:exchanged',
        'eip:oidc-tokens',
        'eip:refresh-used',
        'eip:revoked',
        'eip:saml-assertion',
        'eip:{throttle}-account',
        'eip:{throttle}-client',
        'eip:{throttle}-name',
      ]),
    );
    expect(entries.every(({ type }) => type === 'string')).toBe(true);

    // Positive control: the check finds secrets that are there, in a key and in a value.
    const secret = (label: string) =>
      [...secrets].find(([name]) => name.startsWith(label))?.[1] ?? '';
    const canary = `canary:${secret('session id (sid)')}`;
    await redisCommand(redisServer.port, 'SET', canary, `{"rt":"${secret('IdP refresh token')}"}`);
    const planted = leaks(await everything());
    expect(planted).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^session id \(sid\) #\d+ in key canary:/),
        expect.stringMatching(/^IdP refresh token #\d+ in the value of canary:/),
      ]) as unknown,
    );
    expect(planted.every((finding) => finding.includes(canary))).toBe(true);
    await redisCommand(redisServer.port, 'DEL', canary);

    expect(leaks(entries)).toEqual([]);
    for (const { key, value } of entries) {
      // IdP and exchanged tokens are sealed (AES-256-GCM under key k1); what else is stored is
      // a counter, a marker or a timestamp: no JWT at all.
      if (/^eip:(oidc-tokens|exchanged):/.test(key)) expect(value).toMatch(/^"v1\.k1\.[\w.-]+"$/);
      else expect(value).not.toContain('eyJ');
    }
  });
});
