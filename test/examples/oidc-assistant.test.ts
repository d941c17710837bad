// The OIDC example against a real OpenID provider (oidc-provider, test/helpers/oidc-idp.ts) with
// RFC 8693 token exchange, and two real upstreams that record what they receive. The provider is
// spec-strict about refresh tokens, and the example runs on http://127.0.0.1 as on a developer's
// machine: plain-HTTP cookies.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { createMemoryAuditSink, generateSigningKey } from '../../lib/index.js';
import { createOidcAssistant } from '../../examples/oidc-assistant.js';
import type { OidcSignInOptions } from '../../lib/oidc.js';
import { expectRefusal } from '../helpers/http.js';
import { startOidcProvider, TOKEN_EXCHANGE_GRANT, type OidcIdp } from '../helpers/oidc-idp.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

let idp: OidcIdp;
let assistant: Server;
let origin: string;
let api: RecordingUpstream;
let data: RecordingUpstream;
const audit = createMemoryAuditSink();

function oidcOptions(): OidcSignInOptions {
  return {
    provider: 'generic',
    issuer: idp.issuer,
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    redirect_uri: `${origin}/auth/oidc/callback`,
    scopes: ['openid', 'profile', 'email', 'offline_access'],
  };
}

beforeAll(async () => {
  // A refresh token only for offline_access granted with prompt=consent (OIDC Core §11).
  idp = await startOidcProvider({ refreshTokens: 'spec' });
  assistant = createServer();
  await new Promise<void>((resolve) => assistant.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(assistant.address() as AddressInfo).port}`;
  idp.addRedirectUri(`${origin}/auth/oidc/callback`);
  [api, data] = await Promise.all([createRecordingUpstream(), createRecordingUpstream()]);
  api.respond((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ resource: [{ title: 'Standup' }] }));
  });
  data.respond((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ resource: [{ id: 1 }, { id: 2 }] }));
  });
  const app = createOidcAssistant({
    oidc: oidcOptions(),
    grant: 'token-exchange',
    sessions: { issuer: origin, signingKeys: [generateSigningKey()] },
    api: { origin: api.origin, audience: idp.apiAudience },
    dataApi: { origin: data.origin, audience: idp.dataAudience },
    audit,
  });
  assistant.on('request', app);
}, 30_000);

afterAll(async () => {
  assistant.closeAllConnections();
  await new Promise<void>((resolve) => assistant.close(() => resolve()));
  await Promise.all([api.close(), data.close()]);
  await idp.stop();
});

function cookieValue(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  return cookies.find((cookie) => cookie.startsWith(`${name}=`))?.split(';')[0];
}

/**
 * Sign-in as a browser does it: login → the IdP's pages → callback; returns the session cookie.
 * On http://127.0.0.1 the example's cookies are not Secure, so they carry no `__Host-` prefix.
 */
async function signIn(server: Server = assistant): Promise<string> {
  const agent = request(server);
  const login = await agent.get('/auth/oidc/login?returnTo=%2Fchat');
  expect(login.status).toBe(302);
  const pending = cookieValue(login, 'eip-oidc-pending');
  expect(pending).toBeDefined();
  const callback = new URL(await idp.login(login.headers['location'] as string, 'alice'));
  expect(`${callback.origin}${callback.pathname}`).toBe(`${origin}/auth/oidc/callback`);
  const res = await agent
    .get(`${callback.pathname}${callback.search}`)
    .set('Cookie', pending as string);
  expect(res.status).toBe(303);
  expect(res.headers['location']).toBe('/chat');
  expect(JSON.stringify(res.headers['set-cookie'])).not.toMatch(/Secure/i);
  const session = cookieValue(res, 'eip-session');
  expect(session).toBeDefined();
  return session as string;
}

test("the OIDC example: the API gets the user's IdP token, the data API an exchanged one", async () => {
  const session = await signIn();
  const exchangesBefore = idp.tokenRequests.filter(
    (entry) => entry.grantType === TOKEN_EXCHANGE_GRANT,
  ).length;
  const chat = await request(assistant)
    .post('/ai/chat')
    .set('Cookie', session)
    .set('Origin', origin)
    .send({ question: 'what is on today?' });
  expect(chat.status).toBe(200);
  expect(chat.body).toEqual({ user: 'alice', answer: 'You have 1 meeting(s) and 2 order(s).' });

  // Both tokens are the IdP's own (verified against its JWKS), about alice.
  const idpKeys = createRemoteJWKSet(new URL(idp.jwksUri));
  const bearer = (upstream: RecordingUpstream) =>
    /^Bearer (.+)$/.exec(upstream.received.at(-1)?.headers.authorization ?? '')?.[1] ?? '';
  expect(api.received).toHaveLength(1);
  expect(data.received).toHaveLength(1);
  const userToken = bearer(api);
  const exchanged = bearer(data);
  expect(exchanged).not.toBe(userToken);

  const { payload: sentToApi } = await jwtVerify(userToken, idpKeys, {
    issuer: idp.issuer,
    audience: idp.apiAudience,
  });
  expect(sentToApi).toMatchObject({ sub: idp.users.alice.sub, client_id: idp.clientId });
  expect(sentToApi['act']).toBeUndefined();

  const { payload: sentToData } = await jwtVerify(exchanged, idpKeys, {
    issuer: idp.issuer,
    audience: idp.dataAudience,
  });
  expect(sentToData).toMatchObject({ sub: idp.users.alice.sub, act: { sub: idp.clientId } });

  const exchanges = idp.tokenRequests.filter((entry) => entry.grantType === TOKEN_EXCHANGE_GRANT);
  expect(exchanges.length - exchangesBefore).toBe(1);
  expect(exchanges.at(-1)?.error).toBeUndefined();
  const forwards = audit.events.filter((event) => event.action === 'forward');
  expect(forwards.map((event) => event.details['strategy']).sort()).toEqual([
    'exchange',
    'oidc-session',
  ]);
});

test('the session cookie without the Origin header is refused (CSRF), before any upstream call', async () => {
  const session = await signIn();
  const [apiBefore, dataBefore] = [api.received.length, data.received.length];
  const forged = await request(assistant).post('/ai/chat').set('Cookie', session).send({});
  expectRefusal(forged, { status: 403, code: 'csrf_refused' });
  expect([api.received.length, data.received.length]).toEqual([apiBefore, dataBefore]);
});

test("a long conversation outlives the user's access token: the example refreshes it", async () => {
  // Every call is "near expiry" when the margin exceeds the token's lifetime (300 s here).
  const eager = createServer(
    createOidcAssistant({
      oidc: { ...oidcOptions(), refreshBeforeExpirySec: 600 },
      sessions: { issuer: origin, signingKeys: [generateSigningKey()] },
      api: { origin: api.origin, audience: idp.apiAudience },
      dataApi: { origin: data.origin, audience: idp.dataAudience },
    }),
  );
  await new Promise<void>((resolve) => eager.listen(0, '127.0.0.1', resolve));
  try {
    const session = await signIn(eager);
    const refreshesBefore = idp.tokenRequests.filter(
      (entry) => entry.grantType === 'refresh_token',
    ).length;
    for (let turn = 0; turn < 2; turn++) {
      const chat = await request(eager)
        .post('/ai/chat')
        .set('Cookie', session)
        .set('Origin', origin)
        .send({ question: 'and now?' });
      expect(chat.status).toBe(200);
    }
    const refreshes = idp.tokenRequests.filter((entry) => entry.grantType === 'refresh_token');
    expect(refreshes.length - refreshesBefore).toBe(2);
    expect(refreshes.every((entry) => entry.error === undefined)).toBe(true);
  } finally {
    eager.closeAllConnections();
    await new Promise<void>((resolve) => eager.close(() => resolve()));
  }
});
