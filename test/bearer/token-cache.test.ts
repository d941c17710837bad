import express from 'express';
import {
  authenticate,
  createMemoryAuditSink,
  identityErrorHandler,
  type AuthenticateOptions,
  type Identity,
} from '../../lib/index.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

// The verified-token cache trades a bounded delay in revocation for speed; these tests pin the
// bounds: never past exp, never longer than maxAgeMs, only successes, exact token match.
let idp: TestIssuer;
beforeEach(async () => {
  idp = await createTestIssuer();
});
afterEach(async () => {
  await closeServers();
  await idp.close();
});

function app(extra: Partial<AuthenticateOptions> = {}) {
  const seen: Identity[] = [];
  const server = express();
  server.use(
    authenticate({
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: idp.jwksUri,
      audit: createMemoryAuditSink(),
      ...extra,
    }),
  );
  server.get('/me', (req, res) => {
    if (req.identity !== undefined) seen.push(req.identity);
    res.json({ user: req.identity?.username });
  });
  server.use(identityErrorHandler());
  return { server, seen };
}

test('a repeated token is served from the cache: the very same identity, no new verification', async () => {
  const { server, seen } = app();
  const agent = await serve(server);
  const token = await idp.sign();
  for (let i = 0; i < 3; i++)
    expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  expect(seen[0]).toBe(seen[1]);
  expect(seen[1]).toBe(seen[2]);
  const { server: uncached, seen: fresh } = app({ tokenCache: false });
  const other = await serve(uncached);
  await other.get('/me').set('Authorization', `Bearer ${token}`);
  await other.get('/me').set('Authorization', `Bearer ${token}`);
  expect(fresh[0]).not.toBe(fresh[1]);
  expect(fresh[0]).toEqual(fresh[1]);
});

test('an expired token is never served from the cache', async () => {
  let clock = Date.now();
  const { server } = app({ now: () => clock, clockToleranceSec: 0 });
  const agent = await serve(server);
  // Issued by the test's clock: the issuer's own reading could fall in the next second, which a
  // tolerance of 0 would take for a token from the future.
  const token = await idp.sign({
    iat: Math.floor(clock / 1000),
    exp: Math.floor(clock / 1000) + 5,
  });
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  clock += 6_000; // well inside the 30 s cache age, past exp
  expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${token}`), {
    status: 401,
    code: 'token_expired',
    bearerError: 'invalid_token',
  });
});

test('a token signed by a key that left the JWKS stops working within the configured maximum', async () => {
  const { server } = app({ tokenCache: { maxAgeMs: 1_000 }, jwksCacheMaxAgeMs: 1_000 });
  const agent = await serve(server);
  const oldKid = idp.currentKid;
  const token = await idp.sign();
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  await idp.rotate();
  idp.unpublish(oldKid);
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${token}`), {
    status: 401,
    code: 'token_key_unknown',
    bearerError: 'invalid_token',
  });
});

test('a failed verification is never cached: an outage answer does not outlive the outage', async () => {
  const { server } = app();
  const agent = await serve(server);
  const token = await idp.sign();
  await idp.setMode('error500');
  expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${token}`), {
    status: 503,
    code: 'identity_provider_unavailable',
  });
  await idp.setMode('up');
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
});

test('a one-byte change to a cached token misses the cache', async () => {
  const { server } = app();
  const agent = await serve(server);
  const token = await idp.sign();
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const flip = (text: string, at: number) =>
    `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
  // Middle characters: every bit of them is data (the last base64url character holds padding).
  for (const changed of [
    `${header}.${payload}.${flip(signature, 100)}`,
    `${header}.${flip(payload, 20)}.${signature}`,
    `${flip(header, 5)}.${payload}.${signature}`,
  ]) {
    expect((await agent.get('/me').set('Authorization', `Bearer ${changed}`)).status).toBe(401);
  }
  expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
});

test('tokenCache options are validated at startup', () => {
  expect(() =>
    authenticate({ issuer: 'i', audience: 'a', jwksUri: idp.jwksUri, tokenCache: { maxAgeMs: 0 } }),
  ).toThrow(/option "tokenCache/);
  expect(() =>
    authenticate({ issuer: 'i', audience: 'a', jwksUri: idp.jwksUri, tokenCache: true as never }),
  ).toThrow(/tokenCache/);
});
