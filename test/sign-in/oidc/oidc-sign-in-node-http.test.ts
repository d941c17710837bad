// The OIDC sign-in needs no framework: a plain node:http server runs the whole browser flow
// against the real oidc-provider, with the provider's plain request and result only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseCookie, stringifySetCookie } from 'cookie';
import { decodeJwt } from 'jose';
import {
  createSessionTokens,
  generateSigningKey,
  isIdentityError,
  type Identity,
  type SessionTokens,
} from '../../../lib/index.js';
import { createOidcSignIn, type OidcSignIn } from '../../../lib/oidc.js';
import { startOidcProvider, type OidcIdp } from '../../helpers/oidc-idp.js';

const PENDING = 'pending';
const SESSION = 'session';

let idp: OidcIdp;
let server: Server;
let origin: string;
let oidc: OidcSignIn;
let sessions: SessionTokens;
const signedIn: Identity[] = [];

beforeAll(async () => {
  idp = await startOidcProvider();
  server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      const status = isIdentityError(error) ? error.status : 500;
      const reason = isIdentityError(error) ? error.details['reason'] : undefined;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: isIdentityError(error) ? error.code : 'error', reason }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  idp.addRedirectUri(`${origin}/callback`);
  sessions = createSessionTokens({ issuer: origin, signingKeys: [generateSigningKey()] });
  oidc = createOidcSignIn({
    provider: 'generic',
    client_id: idp.clientId,
    client_secret: idp.clientSecret,
    issuer: idp.issuer,
    redirect_uri: `${origin}/callback`,
  });
}, 30_000);

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await idp.stop();
});

/** The whole adapter: a few lines per route, on node:http alone. */
async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', origin);
  if (url.pathname === '/login') {
    const { url: to, pending } = await oidc.start();
    const sealed = await sessions.sealState({ ...pending }, 600);
    res.writeHead(302, {
      location: to.href,
      'set-cookie': stringifySetCookie(PENDING, sealed, { httpOnly: true, path: '/' }),
    });
    res.end();
    return;
  }
  if (url.pathname === '/callback') {
    const sealed = parseCookie(req.headers.cookie ?? '')[PENDING] ?? '';
    const pending = await sessions.openState(sealed);
    const completed = await oidc.finish(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        query: Object.fromEntries(url.searchParams),
      },
      {
        codeVerifier: pending['codeVerifier'] ?? '',
        state: pending['state'] ?? '',
        nonce: pending['nonce'] ?? '',
      },
    );
    signedIn.push(completed.identity);
    const session = await sessions.issue(completed.identity);
    await oidc.keep(session.sessionId, {
      ...completed.tokens,
      sessionEndsAtMs: Date.now() + session.refreshExpiresIn * 1000,
    });
    res.writeHead(303, {
      location: '/',
      'set-cookie': stringifySetCookie(SESSION, session.accessToken, { httpOnly: true, path: '/' }),
    });
    res.end();
    return;
  }
  res.writeHead(404).end();
}

/** Starts a sign-in at the plain server: the IdP URL and the pending cookie. */
async function startSignIn(): Promise<{ location: string; cookie: string }> {
  const res = await fetch(`${origin}/login`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { location: res.headers.get('location') ?? '', cookie };
}

test('a plain node:http server completes the code flow with the provider alone', async () => {
  const { location, cookie } = await startSignIn();
  const callback = new URL(await idp.login(location, 'alice'));
  const res = await fetch(`${origin}${callback.pathname}${callback.search}`, {
    redirect: 'manual',
    headers: { cookie },
  });
  expect(res.status).toBe(303);
  const session = parseCookie((res.headers.get('set-cookie') ?? '').split(';')[0] ?? '')[SESSION];
  const claims = decodeJwt(session ?? '');
  expect(claims.iss).toBe(origin);
  expect(signedIn.at(-1)).toMatchObject({ username: 'alice', provider: 'oidc' });
  // The IdP's tokens stay on the server, behind the session id.
  await expect(oidc.accessToken(claims['sid'] as string)).resolves.toEqual(expect.any(String));
});

test("the answer to another browser's sign-in is refused by the provider (state)", async () => {
  const mine = await startSignIn();
  const theirs = await startSignIn();
  const callback = new URL(await idp.login(theirs.location, 'alice'));
  const res = await fetch(`${origin}${callback.pathname}${callback.search}`, {
    redirect: 'manual',
    headers: { cookie: mine.cookie },
  });
  expect(res.status).toBe(401);
  await expect(res.json()).resolves.toEqual({ code: 'sign_in_failed', reason: 'state_mismatch' });
});

test('a request that is not an authorization response is refused', async () => {
  const { cookie } = await startSignIn();
  const res = await fetch(`${origin}/callback`, { redirect: 'manual', headers: { cookie } });
  expect(res.status).toBe(401);
  await expect(res.json()).resolves.toEqual({
    code: 'sign_in_failed',
    reason: 'not_an_authorization_response',
  });
});
