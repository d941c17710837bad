// The SAML sign-in needs no framework: a plain node:http server runs the browser flow against
// the test IdP with the provider's plain request and result only (no passport, no Express).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCookie, stringifySetCookie } from 'cookie';
import {
  createSessionTokens,
  generateSigningKey,
  isIdentityError,
  type Identity,
  type SessionTokens,
} from '../../../lib/index.js';
import { createSamlSignIn, type SamlSignIn } from '../../../lib/saml.js';
import { createSamlIdp, samlRequestId, type SamlIdp } from '../../helpers/saml-idp.js';

const PENDING = 'pending';
const SP_ENTITY_ID = 'https://assistant.example.test/saml/metadata';

let idp: SamlIdp;
let server: Server;
let origin: string;
let saml: SamlSignIn;
let sessions: SessionTokens;
const signedIn: Identity[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      res.writeHead(isIdentityError(error) ? error.status : 500, {
        'content-type': 'application/json',
      });
      res.end(
        JSON.stringify(
          isIdentityError(error) ? { code: error.code, reason: error.details['reason'] } : {},
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const acsUrl = `${origin}/acs`;
  idp = await createSamlIdp({ acsUrl, spEntityId: SP_ENTITY_ID });
  sessions = createSessionTokens({ issuer: origin, signingKeys: [generateSigningKey()] });
  saml = createSamlSignIn({
    entityId: SP_ENTITY_ID,
    acsUrl,
    idp: { entityId: idp.entityId, ssoUrl: idp.ssoUrl, certificates: [idp.cert] },
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The whole adapter: a few lines per route, on node:http alone. */
async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', origin);
  if (url.pathname === '/login') {
    const { url: to, requestId } = await saml.start('/chat');
    const sealed = await sessions.sealState({ requestId }, 600);
    res.writeHead(302, {
      location: to,
      'set-cookie': stringifySetCookie(PENDING, sealed, { httpOnly: true, path: '/' }),
    });
    res.end();
    return;
  }
  if (url.pathname === '/acs' && req.method === 'POST') {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const sealed = parseCookie(req.headers.cookie ?? '')[PENDING];
    const pending =
      sealed === undefined ? undefined : await sessions.openState(sealed).catch(() => ({}));
    const completed = await saml.finish(
      { method: 'POST', url: req.url ?? '/', headers: req.headers, query: {}, body },
      pending,
    );
    signedIn.push(completed.identity);
    const session = await sessions.issue(completed.identity);
    res.writeHead(303, {
      location: completed.relayState ?? '/',
      'set-cookie': stringifySetCookie('session', session.accessToken, { path: '/' }),
    });
    res.end();
    return;
  }
  res.writeHead(404).end();
}

async function startSignIn(): Promise<{ requestId: string; cookie: string }> {
  const res = await fetch(`${origin}/login`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return {
    requestId: samlRequestId(res.headers.get('location') ?? ''),
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
  };
}

function post(samlResponse: string, cookie?: string): Promise<Response> {
  return fetch(`${origin}/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(cookie === undefined ? {} : { cookie }),
    },
    body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: '/chat' }).toString(),
  });
}

test('a plain node:http server completes a SAML sign-in with the provider alone', async () => {
  const { requestId, cookie } = await startSignIn();
  const res = await post(
    idp.response({ nameId: 'alice@example.test', inResponseTo: requestId }),
    cookie,
  );
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/chat');
  expect(res.headers.get('set-cookie')).toMatch(/^session=ey/);
  expect(signedIn.at(-1)).toMatchObject({ subject: 'alice@example.test', provider: 'saml' });
});

test("the answer to another browser's request is refused by the provider", async () => {
  const mine = await startSignIn();
  const theirs = await startSignIn();
  const res = await post(
    idp.response({ nameId: 'mallory@example.test', inResponseTo: theirs.requestId }),
    mine.cookie,
  );
  expect(res.status).toBe(401);
  await expect(res.json()).resolves.toEqual({
    code: 'saml_response_invalid',
    reason: 'response_for_another_browser',
  });
});

test('a response without a sign-in started in this browser is refused', async () => {
  const { requestId } = await startSignIn();
  const res = await post(idp.response({ nameId: 'alice@example.test', inResponseTo: requestId }));
  expect(res.status).toBe(401);
  await expect(res.json()).resolves.toEqual({
    code: 'saml_response_invalid',
    reason: 'no_pending_sign_in',
  });
});
