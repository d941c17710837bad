// OIDC sign-in, server-side token refresh and token exchange against a real OpenID provider
// (oidc-provider on 127.0.0.1, test/helpers/oidc-idp.ts) and the real openid-client.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import request, { type Response } from 'supertest';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  isIdentityError,
  requireUser,
  type Identity,
  type MemoryAuditSink,
  type SessionTokens,
} from '../../lib/index.js';
import {
  createOidcSignIn,
  exchangeStrategy,
  oidcRoutes,
  oidcSessionStrategy,
  type OidcRoutesOptions,
  type OidcSignIn,
  type OidcSignInOptions,
} from '../../lib/oidc.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { expectRefusal } from '../helpers/http.js';
import {
  startOidcProvider,
  TOKEN_EXCHANGE_GRANT,
  type OidcIdp,
  type OidcUserName,
} from '../helpers/oidc-idp.js';

interface Assistant {
  agent: ReturnType<typeof request>;
  origin: string;
  /** The names of the session cookie and of the pending-sign-in cookie. */
  cookies: { session: string; pending: string };
  /** The identity of each completed sign-in, as `oidc.finish()` returned it. */
  signedIn: Identity[];
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
  // As strict as OpenID Connect Core §11: a refresh token only for `offline_access` granted
  // with `prompt=consent`, as oidc-provider does by default.
  idp = await startOidcProvider({ accessTokenTtlSec: 120, refreshTokens: 'spec' });
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

interface AssistantOptions {
  /** Default: the suite's IdP. */
  idp?: OidcIdp;
  /** `createOidcSignIn()` options over the suite's. */
  signIn?: Partial<OidcSignInOptions>;
  /** The cookie setting, given to the sign-in routes and to authenticate() alike. */
  cookie?: OidcRoutesOptions['cookie'];
}

async function startAssistant(
  refreshBeforeExpirySec = 60,
  options: AssistantOptions = {},
): Promise<Assistant> {
  const at = options.idp ?? idp;
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${origin}/auth/oidc/callback`;
  at.addRedirectUri(redirectUri);
  const audit = createMemoryAuditSink();
  const sessions = createSessionTokens({ issuer: origin, signingKeys: [generateSigningKey()] });
  const oidc = createOidcSignIn({
    provider: 'generic',
    client_id: at.clientId,
    client_secret: at.clientSecret,
    issuer: at.issuer,
    redirect_uri: redirectUri,
    scopes: ['profile', 'email', 'groups', 'offline_access'],
    mapping: { role_mapping: { 'Sales-Team': 'sales_readonly' } },
    refreshBeforeExpirySec,
    ...options.signIn,
  });
  const [api, data] = await Promise.all([createRecordingUpstream(), createRecordingUpstream()]);
  const passthrough = createPassthrough({
    upstreams: {
      api: {
        origin: api.origin,
        audience: at.apiAudience,
        strategy: oidcSessionStrategy({ oidc, tokens: sessions }),
      },
      data: {
        origin: data.origin,
        audience: at.dataAudience,
        strategy: exchangeStrategy({ oidc }),
      },
    },
    audit,
  });
  const app = (await import('express')).default();
  const cookie = options.cookie ?? {};
  // The identities the sign-in produced (before they become session tokens), for assertions.
  const signedIn: Identity[] = [];
  const recording: OidcSignIn = Object.freeze({
    ...oidc,
    async finish(...args: Parameters<OidcSignIn['finish']>) {
      const completed = await oidc.finish(...args);
      signedIn.push(completed.identity);
      return completed;
    },
  });
  app.use('/auth/oidc', oidcRoutes({ oidc: recording, tokens: sessions, audit, cookie }));
  app.use(
    '/ai',
    authenticate({
      issuers: [sessions.trustedIssuer()],
      sessionCookie: { ...cookie, allowedOrigins: [origin] },
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
  const prefix = cookie.secure === false ? '' : '__Host-';
  return {
    agent: request(server),
    origin,
    cookies: { session: `${prefix}eip-session`, pending: `${prefix}eip-oidc-pending` },
    oidc,
    sessions,
    audit,
    api,
    data,
    signedIn,
  };
}

function cookieValue(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const found = cookies.find((cookie) => cookie.startsWith(`${name}=`));
  return found?.split(';')[0];
}

/** Starts a sign-in and has the IdP log the user in: the callback URL and the pending cookie. */
async function loginAt(target: Assistant, user: OidcUserName = 'alice', at: OidcIdp = idp) {
  const start = await target.agent.get('/auth/oidc/login?returnTo=%2Fchat');
  expect(start.status).toBe(302);
  const pending = cookieValue(start, target.cookies.pending);
  expect(pending).toBeDefined();
  const location = new URL(start.headers['location'] as string);
  expect(location.searchParams.get('code_challenge_method')).toBe('S256');
  expect(location.searchParams.get('state')).toBeTruthy();
  expect(location.searchParams.get('nonce')).toBeTruthy();
  const callback = new URL(await at.login(location, user));
  return { callback, pending: pending as string, authorizationUrl: location };
}

async function signIn(
  target: Assistant,
  user: OidcUserName = 'alice',
  at: OidcIdp = idp,
): Promise<string> {
  const { callback, pending } = await loginAt(target, user, at);
  const res = await target.agent
    .get(`${callback.pathname}${callback.search}`)
    .set('Cookie', pending);
  expect(res.status).toBe(303);
  expect(res.headers['location']).toBe('/chat');
  return cookieValue(res, target.cookies.session) as string;
}

/** A callback that must be refused: 401 sign_in_failed, no session, and the audit reason. */
function expectSignInRefused(target: Assistant, res: Response, reason: string): void {
  expectRefusal(res, { status: 401, code: 'sign_in_failed', bearerError: null });
  expect(JSON.stringify(res.headers['set-cookie'] ?? [])).not.toContain(
    `${target.cookies.session}=ey`,
  );
  // The client's message is the same whatever went wrong; the audit event says what.
  expect((res.body as { message?: string }).message).toBe(
    'The sign-in with the identity provider did not complete. Start it again from this application.',
  );
  const event = target.audit.events.filter((entry) => entry.action === 'sign_in').at(-1);
  expect(event).toMatchObject({ outcome: 'denied', reason: 'sign_in_failed', status: 401 });
  expect(event?.details['reason']).toBe(reason);
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
    await idp.down();
    const res = await eager.agent.get('/ai/call/api').set('Cookie', session);
    expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
    await idp.up();
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
  await idp.down();
  try {
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
  } finally {
    await idp.up();
  }
});

describe('a callback that does not match its sign-in: 401 sign_in_failed, the reason audited', () => {
  test('a bad state', async () => {
    const { callback, pending } = await loginAt(assistant);
    callback.searchParams.set('state', 'forged-state');
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectSignInRefused(assistant, res, 'state_mismatch');
  });

  test('an iss naming another issuer (RFC 9207 mix-up)', async () => {
    const { callback, pending } = await loginAt(assistant);
    callback.searchParams.set('iss', 'https://evil-idp.example');
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', pending);
    expectSignInRefused(assistant, res, 'iss_mismatch');
  });

  test('a bad nonce (the pending sign-in sealed with another nonce)', async () => {
    const { callback, pending } = await loginAt(assistant);
    const opened = await assistant.sessions.openState(pending.split('=')[1] as string);
    const forged = await assistant.sessions.sealState({ ...opened, nonce: 'another-nonce' }, 600);
    const res = await assistant.agent
      .get(`${callback.pathname}${callback.search}`)
      .set('Cookie', `__Host-eip-oidc-pending=${forged}`);
    expectSignInRefused(assistant, res, 'nonce_mismatch');
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
    expectSignInRefused(assistant, res, 'iss_missing');
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
    expectSignInRefused(assistant, res, 'access_denied');
    expect(assistant.audit.events.at(-1)?.details['oauth_error']).toBe('access_denied');
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

describe('refusals by the IdP: the OAuth error in the audit event', () => {
  test('an authorization code used twice: the token endpoint refuses it', async () => {
    const { callback, pending } = await loginAt(assistant);
    const url = `${callback.pathname}${callback.search}`;
    expect((await assistant.agent.get(url).set('Cookie', pending)).status).toBe(303);
    const replay = await assistant.agent.get(url).set('Cookie', pending);
    expectSignInRefused(assistant, replay, 'token_endpoint_error');
    expect(assistant.audit.events.at(-1)?.details['oauth_error']).toBe('invalid_grant');
  });

  test('prompt=none without an IdP session: the callback carries an error', async () => {
    const silent = await startAssistant(60, {
      signIn: { authorizationParameters: { prompt: 'none' } },
    });
    try {
      const { callback, pending } = await loginAt(silent);
      const res = await silent.agent
        .get(`${callback.pathname}${callback.search}`)
        .set('Cookie', pending);
      expectSignInRefused(silent, res, 'authorization_error');
      expect(silent.audit.events.at(-1)?.details['oauth_error']).toBe('login_required');
    } finally {
      await silent.api.close();
      await silent.data.close();
    }
  });
});

describe('the ID token from the token endpoint is verified with the IdP JWKS', () => {
  afterEach(() => {
    idp.forgeIdTokens(undefined);
  });

  async function callbackWith(forgery: Parameters<OidcIdp['forgeIdTokens']>[0]) {
    const { callback, pending } = await loginAt(assistant);
    idp.forgeIdTokens(forgery);
    return assistant.agent.get(`${callback.pathname}${callback.search}`).set('Cookie', pending);
  }

  test('re-signed by the IdP with its own key, unchanged: signs in (the forging harness is faithful)', async () => {
    const res = await callbackWith({ key: 'provider' });
    expect(res.status).toBe(303);
    expect(cookieValue(res, '__Host-eip-session')).toMatch(/=ey/);
  });

  test('signed by a key the JWKS does not hold, under the IdP key id: refused', async () => {
    const res = await callbackWith({ key: 'foreign' });
    expectSignInRefused(assistant, res, 'id_token_signature_invalid');
  });

  test('signed by a foreign key and claiming another user: refused', async () => {
    const res = await callbackWith({
      key: 'foreign',
      claims: (claims) => ({ ...claims, sub: idp.users.bob.sub, preferred_username: 'bob' }),
    });
    expectSignInRefused(assistant, res, 'id_token_signature_invalid');
  });

  test.each([
    ['for another audience', { aud: 'another-client' }, 'id_token_audience_mismatch'],
    ['from another issuer', { iss: 'https://evil-idp.example' }, 'id_token_issuer_mismatch'],
    [
      'expired',
      { exp: Math.floor(Date.now() / 1000) - 3_600, iat: Math.floor(Date.now() / 1000) - 7_200 },
      'id_token_expired',
    ],
    ['for another sign-in (nonce)', { nonce: 'someone-elses-nonce' }, 'nonce_mismatch'],
  ])('signed by the IdP but %s: refused', async (_name, overrides, reason) => {
    const res = await callbackWith({
      key: 'provider',
      claims: (claims) => ({ ...claims, ...overrides }),
    });
    expectSignInRefused(assistant, res, reason);
  });
});

describe('email addresses the IdP has not verified are never asserted', () => {
  /** The sign-in's identity, the session token's claims and what an AI route sees. */
  async function signInAs(user: OidcUserName, target = assistant) {
    const session = await signIn(target, user);
    const whoami = await target.agent.get('/ai/whoami').set('Cookie', session);
    expect(whoami.status).toBe(200);
    return {
      identity: target.signedIn.at(-1),
      token: decodeJwt(session.split('=')[1] as string),
      seen: whoami.body as Record<string, unknown>,
    };
  }

  test('email_verified: true (alice): the identity and the session token carry it', async () => {
    const { identity, token, seen } = await signInAs('alice');
    expect(identity?.email).toBe('alice@example.test');
    expect(identity?.attributes).not.toHaveProperty('unverified_email');
    expect(token['email']).toBe('alice@example.test');
    expect(seen).toMatchObject({ username: 'alice', email: 'alice@example.test' });
  });

  test('email_verified: false (carol): no email anywhere, kept as attributes.unverified_email', async () => {
    const { identity, token, seen } = await signInAs('carol');
    expect(identity).toMatchObject({
      username: 'carol',
      attributes: { unverified_email: 'carol@example.test' },
    });
    expect(identity?.email).toBeUndefined();
    expect(token).not.toHaveProperty('email');
    expect(seen).not.toHaveProperty('email');
  });

  test("someone else's address, unverified, no preferred_username (mallory): not the email, not the username", async () => {
    const { identity, token, seen } = await signInAs('mallory');
    // The generic preset falls back to `email` for the username: never to an unverified one.
    expect(identity).toMatchObject({
      username: idp.users.mallory.sub,
      attributes: { unverified_email: 'alice@example.test' },
    });
    expect(identity?.email).toBeUndefined();
    expect(token).not.toHaveProperty('email');
    expect(token['preferred_username']).toBe(idp.users.mallory.sub);
    expect(JSON.stringify(seen)).not.toContain('alice@example.test');
  });

  test('no email_verified claim (dave): unverified by default', async () => {
    const { identity, token } = await signInAs('dave');
    expect(identity?.email).toBeUndefined();
    expect(identity?.attributes).toEqual({ unverified_email: 'dave@example.test' });
    expect(token).not.toHaveProperty('email');
  });

  test('no email_verified claim, dangerouslyTrustEmailWithoutVerifiedClaim: asserted; false still is not', async () => {
    const trusting = await startAssistant(60, {
      signIn: { dangerouslyTrustEmailWithoutVerifiedClaim: true },
    });
    try {
      const dave = await signIn(trusting, 'dave');
      expect((await trusting.agent.get('/ai/whoami').set('Cookie', dave)).body).toMatchObject({
        email: 'dave@example.test',
      });
      const carol = await signIn(trusting, 'carol');
      expect((await trusting.agent.get('/ai/whoami').set('Cookie', carol)).body).not.toHaveProperty(
        'email',
      );
    } finally {
      await trusting.api.close();
      await trusting.data.close();
    }
  });
});

describe('refresh tokens from a spec-strict IdP (offline_access needs prompt=consent)', () => {
  let shortIdp: OidcIdp;
  beforeAll(async () => {
    shortIdp = await startOidcProvider({ accessTokenTtlSec: 10, refreshTokens: 'spec' });
  });
  afterAll(async () => {
    await shortIdp.stop();
  });

  test('the default sign-in config gets a refresh token, and the passthrough refreshes before expiry', async () => {
    // The clock of the sign-in only: the IdP, its tokens and the session stay on real time.
    let skewMs = 0;
    const target = await startAssistant(5, {
      idp: shortIdp,
      // The default scopes (openid profile email offline_access) and no authorization parameters.
      signIn: { scopes: undefined, now: () => Date.now() + skewMs },
    });
    try {
      const { callback, pending, authorizationUrl } = await loginAt(target, 'alice', shortIdp);
      expect(authorizationUrl.searchParams.get('scope')?.split(' ')).toContain('offline_access');
      expect(authorizationUrl.searchParams.get('prompt')).toBe('consent');
      const signedIn = await target.agent
        .get(`${callback.pathname}${callback.search}`)
        .set('Cookie', pending);
      const session = cookieValue(signedIn, target.cookies.session) as string;
      const refreshes = () =>
        shortIdp.tokenRequests.filter((entry) => entry.grantType === 'refresh_token');

      expect((await target.agent.get('/ai/call/api').set('Cookie', session)).body).toEqual({
        status: 200,
      });
      const first = bearerSent(target.api);
      expect(refreshes()).toHaveLength(0);

      // 6 s later the 10 s token has 4 s left: inside the 5 s margin, so it is refreshed first.
      skewMs = 6_000;
      expect((await target.agent.get('/ai/call/api').set('Cookie', session)).body).toEqual({
        status: 200,
      });
      const second = bearerSent(target.api);
      expect(refreshes()).toEqual([{ grantType: 'refresh_token' }]);
      expect(second).not.toBe(first);
      const { payload } = await jwtVerify(second, createRemoteJWKSet(new URL(shortIdp.jwksUri)), {
        issuer: shortIdp.issuer,
        audience: shortIdp.apiAudience,
      });
      expect(payload.sub).toBe(shortIdp.users.alice.sub);
      // The first token had not expired when it was replaced.
      expect((decodeJwt(first).exp ?? 0) * 1000).toBeGreaterThan(Date.now() + skewMs);
    } finally {
      await target.api.close();
      await target.data.close();
    }
  });

  test('an explicit prompt without consent is honoured: the strict IdP then issues no refresh token', async () => {
    const target = await startAssistant(600, {
      idp: shortIdp,
      signIn: { authorizationParameters: { prompt: 'login' } },
    });
    try {
      const session = await signIn(target, 'alice', shortIdp);
      const res = await target.agent.get('/ai/call/api').set('Cookie', session);
      expectRefusal(res, { status: 401, code: 'session_expired', bearerError: 'invalid_token' });
    } finally {
      await target.api.close();
      await target.data.close();
    }
  });
});

describe('option authorizationParameters', () => {
  const base = (): OidcSignInOptions => ({
    provider: 'generic',
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    issuer: idp.issuer,
    redirect_uri: `${assistant.origin}/auth/oidc/callback`,
  });

  test.each([
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'redirect_uri',
    'response_type',
    'response_mode',
    'client_id',
    'scope',
    'request_uri',
  ])('%s cannot be overridden: a TypeError at startup naming it', (name) => {
    expect(() =>
      createOidcSignIn({ ...base(), authorizationParameters: { [name]: 'attacker-chosen' } }),
    ).toThrow(
      new RegExp(
        `^createOidcSignIn: option "authorizationParameters\\.${name}" is set by the sign-in itself`,
      ),
    );
  });

  test('max_age must be a number of seconds', () => {
    expect(() =>
      createOidcSignIn({ ...base(), authorizationParameters: { max_age: 'an hour' } }),
    ).toThrow('option "authorizationParameters.max_age" must be a number of seconds');
  });

  test('extra parameters reach the IdP; prompt=consent is the default only for generic IdPs', async () => {
    const hinted = createOidcSignIn({
      ...base(),
      authorizationParameters: { login_hint: 'alice', max_age: '3600' },
    });
    const { url } = await hinted.start();
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      login_hint: 'alice',
      max_age: '3600',
      prompt: 'consent',
    });
    const keycloak = createOidcSignIn({ ...base(), provider: 'keycloak' });
    expect((await keycloak.start()).url.searchParams.has('prompt')).toBe(false);
    const withoutOffline = createOidcSignIn({ ...base(), scopes: ['profile'] });
    expect((await withoutOffline.start()).url.searchParams.has('prompt')).toBe(false);
  });

  test('a sign-in with max_age completes (auth_time checked)', async () => {
    const target = await startAssistant(60, {
      signIn: { authorizationParameters: { max_age: '3600' } },
    });
    try {
      await signIn(target, 'alice');
    } finally {
      await target.api.close();
      await target.data.close();
    }
  });
});

describe('option timeoutMs is honoured to the millisecond', () => {
  afterEach(async () => {
    await idp.up();
  });

  test('discovery from an IdP that does not answer gives up after timeoutMs, not a whole second', async () => {
    const oidc = createOidcSignIn({
      provider: 'generic',
      client_id: idp.clientId,
      client_secret: idp.clientSecret,
      issuer: idp.issuer,
      redirect_uri: `${assistant.origin}/auth/oidc/callback`,
      timeoutMs: 300,
    });
    await idp.hang();
    const started = performance.now();
    const error = await oidc.warm().catch((caught: unknown) => caught);
    const elapsedMs = performance.now() - started;
    expect(isIdentityError(error) && error.code).toBe('identity_provider_unavailable');
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(800);
  });

  test('a token endpoint that does not answer: 503 after timeoutMs', async () => {
    const target = await startAssistant(60, { signIn: { timeoutMs: 300 } });
    try {
      const { callback, pending } = await loginAt(target);
      await idp.hang();
      const started = performance.now();
      const res = await target.agent
        .get(`${callback.pathname}${callback.search}`)
        .set('Cookie', pending);
      const elapsedMs = performance.now() - started;
      expectRefusal(res, { status: 503, code: 'identity_provider_unavailable' });
      expect(elapsedMs).toBeGreaterThanOrEqual(290);
      expect(elapsedMs).toBeLessThan(800);
    } finally {
      await target.api.close();
      await target.data.close();
    }
  });
});

describe('plain-HTTP development: one cookie setting for the sign-in routes and authenticate()', () => {
  test('cookie { secure: false }: eip-session without Secure, and the AI routes accept it', async () => {
    const plain = await startAssistant(60, { cookie: { secure: false } });
    try {
      const { callback, pending } = await loginAt(plain);
      expect(pending).toMatch(/^eip-oidc-pending=/);
      const res = await plain.agent
        .get(`${callback.pathname}${callback.search}`)
        .set('Cookie', pending);
      expect(res.status).toBe(303);
      const setCookie = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((line) =>
        line.startsWith('eip-session='),
      );
      expect(setCookie).toMatch(/; HttpOnly/);
      expect(setCookie).not.toMatch(/; Secure/i);
      // What a browser on http://127.0.0.1 sends back: exactly the cookie it was given.
      const session = (setCookie ?? '').split(';')[0] as string;
      const whoami = await plain.agent.get('/ai/whoami').set('Cookie', session);
      expect(whoami.status).toBe(200);
      expect(whoami.body).toMatchObject({ username: 'alice', provider: 'oidc' });
    } finally {
      await plain.api.close();
      await plain.data.close();
    }
  });

  test('the default (Secure, __Host-eip-session) still pairs up', async () => {
    const session = await signIn(assistant);
    expect(session).toMatch(/^__Host-eip-session=/);
    expect((await assistant.agent.get('/ai/whoami').set('Cookie', session)).status).toBe(200);
  });

  test('secure: false with a __Host- name is refused at startup, in authenticate() too', () => {
    const sessions = createSessionTokens({
      issuer: 'http://127.0.0.1:1',
      signingKeys: [generateSigningKey()],
    });
    expect(() =>
      authenticate({
        issuers: [sessions.trustedIssuer()],
        sessionCookie: {
          name: '__Host-eip-session',
          secure: false,
          allowedOrigins: ['http://127.0.0.1:1'],
        },
      }),
    ).toThrow('option "sessionCookie.secure": a "__Host-" cookie must be Secure');
  });
});

/** The bearer token the recording upstream received last. */
function bearerSent(upstream: RecordingUpstream): string {
  return (upstream.received.at(-1)?.headers.authorization ?? '').replace(/^Bearer /, '');
}

describe('option mapping', () => {
  const base = (): OidcSignInOptions => ({
    provider: 'generic',
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    issuer: idp.issuer,
    redirect_uri: `${assistant.origin}/auth/oidc/callback`,
  });

  test.each(['subject', 'clientId', 'scopes'])(
    'field_claims.%s is refused at startup: the protocol fixes it',
    (field) => {
      expect(() =>
        createOidcSignIn({ ...base(), mapping: { field_claims: { [field]: 'oid' } } }),
      ).toThrow(new RegExp(`^createOidcSignIn: option "mapping\\.field_claims\\.${field}"`));
    },
  );

  test('other fields may be mapped from the ID token', () => {
    expect(() =>
      createOidcSignIn({ ...base(), mapping: { field_claims: { email: ['email', 'upn'] } } }),
    ).not.toThrow();
  });
});
