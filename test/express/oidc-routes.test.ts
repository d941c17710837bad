// OIDC sign-in, server-side token refresh and token exchange against a real OpenID provider
// (oidc-provider on 127.0.0.1, test/helpers/oidc-idp.ts) and the real openid-client.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import request from 'supertest';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  isIdentityError,
  requireUser,
  type MemoryAuditSink,
  type SessionTokens,
} from '../../lib/index.js';
import {
  createOidcSignIn,
  exchangeStrategy,
  oidcRoutes,
  oidcSessionStrategy,
  type OidcSignIn,
} from '../../lib/oidc.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { expectRefusal } from '../helpers/http.js';
import { startOidcProvider, TOKEN_EXCHANGE_GRANT, type OidcIdp } from '../helpers/oidc-idp.js';

interface Assistant {
  agent: ReturnType<typeof request>;
  origin: string;
  oidc: OidcSignIn;
  sessions: SessionTokens;
  audit: MemoryAuditSink;
  api: RecordingUpstream;
  data: RecordingUpstream;
}

let idp: OidcIdp;
let assistant: Assistant;
const servers: Server[] = [];

beforeAll(async () => {
  idp = await startOidcProvider({ accessTokenTtlSec: 120 });
  assistant = await startAssistant();
}, 30_000);
afterAll(async () => {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
  await assistant.api.close();
  await assistant.data.close();
  await idp.stop();
});
beforeEach(() => {
  (assistant.audit.events as unknown[]).length = 0;
});

async function startAssistant(refreshBeforeExpirySec = 60): Promise<Assistant> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${origin}/auth/oidc/callback`;
  idp.addRedirectUri(redirectUri);
  const audit = createMemoryAuditSink();
  const sessions = createSessionTokens({ issuer: origin, signingKeys: [generateSigningKey()] });
  const oidc = createOidcSignIn({
    provider: 'generic',
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    issuer: idp.issuer,
    redirect_uri: redirectUri,
    scopes: ['profile', 'email', 'groups', 'offline_access'],
    mapping: { role_mapping: { 'Sales-Team': 'sales_readonly' } },
    refreshBeforeExpirySec,
  });
  const [api, data] = await Promise.all([createRecordingUpstream(), createRecordingUpstream()]);
  const passthrough = createPassthrough({
    upstreams: {
      api: {
        origin: api.origin,
        audience: idp.apiAudience,
        strategy: oidcSessionStrategy({ oidc, tokens: sessions }),
      },
      data: {
        origin: data.origin,
        audience: idp.dataAudience,
        strategy: exchangeStrategy({ oidc }),
      },
    },
    audit,
  });
  const app = (await import('express')).default();
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
    res.json(req.identity);
  });
  app.get('/ai/call/:upstream', requireUser(), async (req, res, next) => {
    try {
      const target = req.params['upstream'] === 'api' ? api.origin : data.origin;
      const response = await passthrough.fetch(`${target}/records`);
      // Reading the body completes the call, and so its audit event.
      await response.text();
      res.json({ status: response.status });
    } catch (error) {
      next(error);
    }
  });
  app.use(identityErrorHandler());
  server.on('request', app);
  return { agent: request(server), origin, oidc, sessions, audit, api, data };
}

function cookieValue(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const found = cookies.find((cookie) => cookie.startsWith(`${name}=`));
  return found?.split(';')[0];
}

/** Starts a sign-in and has the IdP log the user in: the callback URL and the pending cookie. */
async function loginAt(target: Assistant, user: 'alice' | 'bob' = 'alice') {
  const start = await target.agent.get('/auth/oidc/login?returnTo=%2Fchat');
  expect(start.status).toBe(302);
  const pending = cookieValue(start, '__Host-eip-oidc-pending');
  expect(pending).toBeDefined();
  const location = new URL(start.headers['location'] as string);
  expect(location.searchParams.get('code_challenge_method')).toBe('S256');
  expect(location.searchParams.get('state')).toBeTruthy();
  expect(location.searchParams.get('nonce')).toBeTruthy();
  const callback = new URL(await idp.login(location, user));
  return { callback, pending: pending as string };
}

async function signIn(target: Assistant, user: 'alice' | 'bob' = 'alice'): Promise<string> {
  const { callback, pending } = await loginAt(target, user);
  const res = await target.agent
    .get(`${callback.pathname}${callback.search}`)
    .set('Cookie', pending);
  expect(res.status).toBe(303);
  expect(res.headers['location']).toBe('/chat');
  return cookieValue(res, '__Host-eip-session') as string;
}

test('code flow with PKCE, state, nonce and iss: a session cookie, and the IdP tokens stay on the server', async () => {
  const { callback, pending } = await loginAt(assistant);
  expect(callback.searchParams.get('iss')).toBe(idp.issuer);
  const res = await assistant.agent
    .get(`${callback.pathname}${callback.search}`)
    .set('Cookie', pending);
  expect(res.status).toBe(303);
  const session = cookieValue(res, '__Host-eip-session') as string;
  // Only the package's session token reaches the browser.
  expect(decodeJwt(session.split('=')[1] as string).iss).toBe(assistant.origin);
  expect(JSON.stringify(res.headers)).not.toContain('refresh');
  const whoami = await assistant.agent.get('/ai/whoami').set('Cookie', session);
  expect(whoami.body).toMatchObject({
    provider: 'oidc',
    kind: 'user',
    username: 'alice',
    email: 'alice@example.test',
    groups: expect.arrayContaining(['Sales-Team']),
    roles: ['sales_readonly'],
  });
  expect(assistant.audit.events.find((event) => event.action === 'sign_in')).toMatchObject({
    outcome: 'allowed',
    provider: 'oidc',
    user: 'alice',
  });
});

test("the passthrough sends the user's IdP access token to an upstream its audience names", async () => {
  const session = await signIn(assistant);
  const res = await assistant.agent.get('/ai/call/api').set('Cookie', session);
  expect(res.body).toEqual({ status: 200 });
  const sent = assistant.api.received.at(-1)?.headers.authorization ?? '';
  const claims = decodeJwt(sent.replace(/^Bearer /, ''));
  expect(claims).toMatchObject({ iss: idp.issuer, aud: idp.apiAudience, sub: idp.users.alice.sub });
});

test('a token near expiry is refreshed before the call; one refresh for concurrent calls', async () => {
  // Every token is "near expiry" when the margin exceeds its lifetime.
  const eager = await startAssistant(600);
  try {
    const session = await signIn(eager);
    const before = idp.tokenRequests.filter((entry) => entry.grantType === 'refresh_token').length;
    const results = await Promise.all(
      [1, 2, 3].map(() => eager.agent.get('/ai/call/api').set('Cookie', session)),
    );
    expect(results.map((res) => res.status)).toEqual([200, 200, 200]);
    const refreshes = idp.tokenRequests.filter((entry) => entry.grantType === 'refresh_token');
    expect(refreshes.length - before).toBeGreaterThanOrEqual(1);
    expect(refreshes.length - before).toBeLessThanOrEqual(3);
    expect(refreshes.every((entry) => entry.error === undefined)).toBe(true);
  } finally {
    await eager.api.close();
    await eager.data.close();
  }
});

test('a refused refresh ends the session with a clear 401', async () => {
  const eager = await startAssistant(600);
  try {
    const session = await signIn(eager);
    await idp.revokeGrants('alice');
    const res = await eager.agent.get('/ai/call/api').set('Cookie', session);
    expectRefusal(res, { status: 401, code: 'session_expired', bearerError: 'invalid_token' });
    const after = await eager.agent.get('/ai/whoami').set('Cookie', session);
    expectRefusal(after, { status: 401, code: 'token_revoked', bearerError: 'invalid_token' });
  } finally {
    await eager.api.close();
    await eager.data.close();
  }
});

test('the IdP down during a refresh is a 503, and the session survives it', async () => {
  const eager = await startAssistant(600);
  try {
    const session = await signIn(eager);
    idp.down();
    const res = await eager.agent.get('/ai/call/api').set('Cookie', session);
    expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
    idp.up();
    expect((await eager.agent.get('/ai/call/api').set('Cookie', session)).body).toEqual({
      status: 200,
    });
  } finally {
    idp.up();
    await eager.api.close();
    await eager.data.close();
  }
});

test('the IdP down at the callback is a 503, never a 401', async () => {
  const { callback, pending } = await loginAt(assistant);
  idp.down();
  try {
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
  } finally {
    idp.up();
  }
});

describe('a callback that does not match its sign-in: 401 sign_in_failed', () => {
  test('a bad state', async () => {
    const { callback, pending } = await loginAt(assistant);
    callback.searchParams.set('state', 'forged-state');
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
    expect(res.headers['set-cookie']?.toString()).not.toContain('__Host-eip-session=ey');
  });

  test('a bad nonce (the pending sign-in sealed with another nonce)', async () => {
    const { callback, pending } = await loginAt(assistant);
    const opened = await assistant.sessions.openState(pending.split('=')[1] as string);
    const forged = await assistant.sessions.sealState({ ...opened, nonce: 'another-nonce' }, 600);
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', `__Host-eip-oidc-pending=${forged}`);
    expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
  });

  test('no pending sign-in in this browser (a replayed or stolen callback URL)', async () => {
    const { callback } = await loginAt(assistant);
    const res = await assistant.agent.get(`${callback.pathname}${callback.search}`);
    expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
    expect(assistant.audit.events.at(-1)?.details['reason']).toBe('no_pending_sign_in');
  });

  test('a missing iss (RFC 9207) ', async () => {
    const { callback, pending } = await loginAt(assistant);
    callback.searchParams.delete('iss');
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
  });

  test('the user denied consent', async () => {
    const start = await assistant.agent.get('/auth/oidc/login');
    const pending = cookieValue(start, '__Host-eip-oidc-pending') as string;
    const callback = new URL(
      await idp.login(start.headers['location'] as string, 'alice', { deny: true }),
    );
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
  });
});

test('a post-login redirect is limited to same-site paths', async () => {
  const start = await assistant.agent.get(
    '/auth/oidc/login?returnTo=https%3A%2F%2Fevil.example%2F',
  );
  const pending = cookieValue(start, '__Host-eip-oidc-pending') as string;
  const callback = new URL(await idp.login(start.headers['location'] as string, 'alice'));
  const res = await assistant.agent
    .get(`${callback.pathname}${callback.search}`)
    .set('Cookie', pending);
  expect(res.headers['location']).toBe('/');
});

describe('token exchange', () => {
  test('the data API gets a token for itself, about the same person, naming the client as actor; cached', async () => {
    const session = await signIn(assistant);
    const before = idp.tokenRequests.filter(
      (entry) => entry.grantType === TOKEN_EXCHANGE_GRANT,
    ).length;
    for (let call = 0; call < 2; call++) {
      const res = await assistant.agent.get('/ai/call/data').set('Cookie', session);
      expect(res.body).toEqual({ status: 200 });
    }
    const sent = assistant.data.received.at(-1)?.headers.authorization ?? '';
    expect(decodeJwt(sent.replace(/^Bearer /, ''))).toMatchObject({
      iss: idp.issuer,
      aud: idp.dataAudience,
      sub: idp.users.alice.sub,
      act: { sub: idp.clientId },
    });
    const exchanges = idp.tokenRequests.filter((entry) => entry.grantType === TOKEN_EXCHANGE_GRANT);
    expect(exchanges.length - before).toBe(1);
    const forward = assistant.audit.events.filter((event) => event.action === 'forward').at(-1);
    expect(forward?.details['strategy']).toBe('exchange');
  });

  test("an app-only token is never exchanged into a user's", async () => {
    const { clientCredentialsGrant } = await import('openid-client');
    const config = await assistant.oidc.configuration();
    const appOnly = await clientCredentialsGrant(config, { resource: idp.apiAudience });
    // The package refuses it before asking: a client-credentials token is a service identity.
    const strategy = exchangeStrategy({ oidc: assistant.oidc });
    const { createIdentity } = await import('../../lib/core/identity.js');
    const service = createIdentity(
      {
        subject: idp.clientId,
        issuer: idp.issuer,
        provider: 'jwt',
        kind: 'service',
        serviceAccountRule: 'subject-is-client',
        username: idp.clientId,
        groups: [],
        roles: [],
        scopes: [],
        attributes: {},
      },
      { type: 'bearer', value: appOnly.access_token, audience: [idp.apiAudience] },
    );
    const upstream = { name: 'data', audience: idp.dataAudience } as never;
    await expect(strategy.credentialFor(service, upstream, Date.now())).rejects.toMatchObject({
      code: 'service_account_refused',
    });
    // And the IdP refuses it too, should anything present it as a person's.
    const disguised = createIdentity(
      { ...service, kind: 'user', serviceAccountRule: undefined } as never,
      { type: 'bearer', value: appOnly.access_token, audience: [idp.apiAudience] },
    );
    const refused = await strategy
      .credentialFor(disguised, upstream, Date.now())
      .catch((error: unknown) => error);
    expect(isIdentityError(refused) && refused.code).toBe('token_exchange_refused');
  });
});

describe('sessions that did not sign in through OIDC', () => {
  test('have no IdP token: 401 credentials_missing, and their session is not ended', async () => {
    const { createIdentity } = await import('../../lib/core/identity.js');
    const directoryUser = createIdentity({
      subject: 'uid=dana',
      issuer: 'ldaps://directory.example.test',
      provider: 'ldap',
      kind: 'user',
      username: 'dana',
      groups: [],
      roles: [],
      scopes: [],
      attributes: {},
    });
    const session = await assistant.sessions.issue(directoryUser);
    const cookie = `__Host-eip-session=${session.accessToken}`;
    const before = idp.tokenRequests.length;
    for (const upstream of ['api', 'data']) {
      const res = await assistant.agent.get(`/ai/call/${upstream}`).set('Cookie', cookie);
      expectRefusal(res, { status: 401, code: 'credentials_missing', bearerError: null });
    }
    // Nothing was sent to the IdP (no foreign token exchanged), and the session lives on.
    expect(idp.tokenRequests.length).toBe(before);
    expect((await assistant.agent.get('/ai/whoami').set('Cookie', cookie)).status).toBe(200);
  });
});

test('a callback with neither a code nor an error is refused, not taken for a new sign-in', async () => {
  const { pending } = await loginAt(assistant);
  const res = await assistant.agent.get('/auth/oidc/callback?state=x').set('Cookie', pending);
  expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
  expect(assistant.audit.events.at(-1)?.details['reason']).toBe('not_an_authorization_response');
});
