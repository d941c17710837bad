// The Entra SAML example against a real signing IdP (test/helpers/saml-idp.ts) that answers with
// Entra ID's issuer and claim URIs, and a real data API that verifies the minted tokens against
// the assistant's JWKS.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import request from 'supertest';
import { createMemoryAuditSink, generateSigningKey } from '../../lib/index.js';
import { createEntraSamlAssistant } from '../../examples/entra-saml-assistant.js';
import { expectRefusal } from '../helpers/http.js';
import { createSamlIdp, type SamlIdp } from '../helpers/saml-idp.js';

const TENANT_ID = '4f1c2d3e-0000-4a5b-8c9d-0123456789ab';
const GROUP_ID = '9a8b7c6d-1111-4e2f-a3b4-c5d6e7f80912';
const DATA_AUDIENCE = 'https://data.example.test';
const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const GROUPS = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups';

/** The claims an Entra enterprise app sends by default, plus the group claim. */
function entraClaims(upn: string, displayName: string, groups: string[]) {
  return {
    [`${WS}/name`]: upn,
    [`${WS}/emailaddress`]: upn,
    [`${WS}/givenname`]: displayName.split(' ')[0] ?? displayName,
    'http://schemas.microsoft.com/identity/claims/displayname': displayName,
    'http://schemas.microsoft.com/identity/claims/tenantid': TENANT_ID,
    [GROUPS]: groups,
  };
}

/** A data API that verifies every token against the assistant's JWKS, as a real one would. */
async function dataApi(jwksUrl: string, issuer: string) {
  const seen: JWTPayload[] = [];
  const keys = createRemoteJWKSet(new URL(jwksUrl));
  const server: Server = createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    jwtVerify(token, keys, { issuer, audience: DATA_AUDIENCE, typ: 'at+jwt' }).then(
      ({ payload }) => {
        seen.push(payload);
        const mine = payload['preferred_username'] === 'alice@contoso.test';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource: mine ? [{ id: 1 }, { id: 2 }, { id: 3 }] : [] }));
      },
      () => {
        res.writeHead(401).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let assistant: Server;
let origin: string;
let idp: SamlIdp;
let data: Awaited<ReturnType<typeof dataApi>>;
const audit = createMemoryAuditSink();

beforeAll(async () => {
  // The ACS URL names the port, so the server listens before the app exists.
  assistant = createServer();
  await new Promise<void>((resolve) => assistant.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(assistant.address() as AddressInfo).port}`;
  // The IdP answers as Entra ID does for this tenant: its issuer, its SSO URL, its claims.
  idp = await createSamlIdp({
    acsUrl: `${origin}/auth/saml/acs`,
    spEntityId: `${origin}/auth/saml/metadata`,
    entityId: `https://sts.windows.net/${TENANT_ID}/`,
    ssoUrl: `https://login.microsoftonline.com/${TENANT_ID}/saml2`,
  });
  data = await dataApi(`${origin}/.well-known/jwks.json`, origin);
  const app = createEntraSamlAssistant({
    appUrl: origin,
    entra: { tenantId: TENANT_ID, certificate: idp.cert, assistantGroup: GROUP_ID },
    sessions: { signingKeys: [generateSigningKey()] },
    dataApi: { origin: data.origin, audience: DATA_AUDIENCE },
    audit,
  });
  assistant.on('request', app);
}, 30_000);

afterAll(async () => {
  assistant.closeAllConnections();
  await new Promise<void>((resolve) => assistant.close(() => resolve()));
  await data.close();
});

/** Sign-in as a browser does it: login → Entra → POST to the ACS; returns the session cookie. */
async function signIn(upn: string, displayName: string, groups: string[]): Promise<string> {
  const agent = request(assistant);
  const login = await agent.get('/auth/saml/login?returnTo=%2Fchat');
  expect(login.status).toBe(302);
  const location = login.headers['location'] as string;
  expect(location.startsWith(`https://login.microsoftonline.com/${TENANT_ID}/saml2?`)).toBe(true);
  const authnRequest = idp.authnRequest(location);
  expect(authnRequest.issuer).toBe(`${origin}/auth/saml/metadata`);
  expect(authnRequest.acsUrl).toBe(`${origin}/auth/saml/acs`);

  const samlResponse = idp.response({
    nameId: upn,
    attributes: entraClaims(upn, displayName, groups),
    inResponseTo: authnRequest.id,
  });
  // The browser brings back the cookie that binds the sign-in to it.
  const pending = ((login.headers['set-cookie'] as string[] | undefined) ?? [])
    .find((value) => value.startsWith('__Host-eip-saml-pending='))
    ?.split(';')[0];
  expect(pending).toBeDefined();
  const acs = await agent
    .post('/auth/saml/acs')
    .type('form')
    .set('Cookie', pending ?? '')
    .send({ SAMLResponse: samlResponse, RelayState: authnRequest.relayState ?? '' });
  expect(acs.status).toBe(303);
  expect(acs.headers['location']).toBe('/chat');
  const cookies = (acs.headers['set-cookie'] as string[] | undefined) ?? [];
  const cookie = cookies.find((value) => value.startsWith('__Host-eip-session='));
  expect(cookie).toMatch(/; HttpOnly/);
  return (cookie as string).split(';')[0] as string;
}

test('the Entra SAML example: sign in through Entra, data calls carry a minted token', async () => {
  const cookie = await signIn('alice@contoso.test', 'Alice Example', ['0000-other', GROUP_ID]);
  const chat = await request(assistant)
    .post('/ai/chat')
    .set('Cookie', cookie)
    .set('Origin', origin)
    .send({ question: 'my orders?' });
  expect(chat.status).toBe(200);
  expect(chat.body).toMatchObject({ user: 'alice@contoso.test', answer: 'You have 3 order(s).' });

  // The data API saw a token for itself, about alice, asked for by the assistant.
  expect(data.seen).toHaveLength(1);
  expect(data.seen[0]).toMatchObject({
    iss: origin,
    aud: DATA_AUDIENCE,
    preferred_username: 'alice@contoso.test',
    idp: 'saml',
    act: { sub: 'ai-assistant' },
  });
  const minted = data.seen[0] as { exp: number; iat: number };
  expect(minted.exp - minted.iat).toBe(300);
  const signInEvent = audit.events.find((event) => event.action === 'sign_in');
  expect(signInEvent).toMatchObject({
    outcome: 'allowed',
    provider: 'saml',
    issuer: `https://sts.windows.net/${TENANT_ID}/`,
  });
  const forward = audit.events.find((event) => event.action === 'forward');
  expect(forward).toMatchObject({ user: 'alice@contoso.test', outcome: 'allowed' });
  expect(forward?.details['strategy']).toBe('mint');
});

test('the session cookie without the Origin header is refused (CSRF), before any data call', async () => {
  const cookie = await signIn('alice@contoso.test', 'Alice Example', [GROUP_ID]);
  const before = data.seen.length;
  const forged = await request(assistant).post('/ai/chat').set('Cookie', cookie).send({});
  expectRefusal(forged, { status: 403, code: 'csrf_refused' });
  expect(data.seen).toHaveLength(before);
});

test('a user outside the assistant group signs in but is refused the chat', async () => {
  const cookie = await signIn('bob@contoso.test', 'Bob Example', ['0000-other']);
  const before = data.seen.length;
  const chat = await request(assistant)
    .post('/ai/chat')
    .set('Cookie', cookie)
    .set('Origin', origin)
    .send({});
  expectRefusal(chat, { status: 403, code: 'role_missing' });
  expect(data.seen).toHaveLength(before);
});
