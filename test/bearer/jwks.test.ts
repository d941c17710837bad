import express from 'express';
import { authenticate, createMemoryAuditSink, type AuthenticateOptions } from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

// Against a real JWKS endpoint on 127.0.0.1. jwks-rsa keeps its own clock, so cache expiry is
// reached by waiting out a short configured max age (1 s) rather than by a fake clock.
const CACHE_MS = 1_000;
const STALE_MS = 1_500;
const pastCacheAge = () => new Promise((resolve) => setTimeout(resolve, CACHE_MS + 150));
const sleepUntil = (time: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));

describe('keys from a JWKS endpoint', () => {
  let idp: TestIssuer;

  beforeEach(async () => {
    idp = await createTestIssuer();
  });
  afterEach(async () => {
    await closeServers();
    await idp.close();
  });

  function app(extra: Partial<AuthenticateOptions> = {}) {
    return buildApp(express, {
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: idp.jwksUri,
      jwksCacheMaxAgeMs: CACHE_MS,
      jwksStaleIfErrorMs: STALE_MS,
      jwksTimeoutMs: 500,
      // Every request verifies, so what is tested is the key source, not the token cache.
      tokenCache: false,
      audit: createMemoryAuditSink(),
      ...extra,
    });
  }

  test('keys are cached: many requests, one fetch', async () => {
    const agent = await serve(app());
    const token = await idp.sign();
    for (let i = 0; i < 20; i++) {
      expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    }
    expect(idp.jwksRequests).toBe(1);
  });

  test('many distinct tokens signed by one key cost one fetch', async () => {
    const agent = await serve(app());
    const users = Array.from({ length: 30 }, (_, n) => `user-${n}`);
    // Signed ahead, so that all of them are served well inside the 1 s cache age.
    const tokens = await Promise.all(
      users.map((user) => idp.sign({ sub: `id-${user}`, preferred_username: user })),
    );
    const served: unknown[] = [];
    for (const token of tokens) {
      const res = await agent.get('/me').set('Authorization', `Bearer ${token}`);
      served.push((res.body as { identity: { username: string } | null }).identity?.username);
    }
    expect(served).toEqual(users);
    expect(idp.jwksRequests).toBe(1);
  });

  test('a cold start with many concurrent requests costs one fetch and refuses none', async () => {
    const agent = await serve(app({ jwksRequestsPerMinute: 2 }));
    const token = await idp.sign();
    const results = await Promise.all(
      Array.from({ length: 40 }, () => agent.get('/me').set('Authorization', `Bearer ${token}`)),
    );
    expect(results.map((res) => res.status)).toEqual(Array(40).fill(200));
    expect(idp.jwksRequests).toBe(1);
  });

  test('a rotated-in key works at once, without a restart', async () => {
    const agent = await serve(app());
    expect((await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`)).status).toBe(
      200,
    );
    await idp.rotate();
    const fresh = await idp.sign();
    expect((await agent.get('/me').set('Authorization', `Bearer ${fresh}`)).status).toBe(200);
    expect(idp.jwksRequests).toBe(2);
  });

  test('a key removed from the JWKS stops working once the cache expires', async () => {
    const agent = await serve(app());
    const oldKid = idp.currentKid;
    const old = await idp.sign();
    expect((await agent.get('/me').set('Authorization', `Bearer ${old}`)).status).toBe(200);
    await idp.rotate();
    idp.unpublish(oldKid);
    expect((await agent.get('/me').set('Authorization', `Bearer ${old}`)).status).toBe(200);
    await pastCacheAge();
    expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${old}`), {
      status: 401,
      code: 'token_key_unknown',
      bearerError: 'invalid_token',
    });
  });

  test('a key the JWKS stopped listing is answered from the cache, without a fetch, until the cache age has passed since it was last listed', async () => {
    const agent = await serve(app());
    const oldKid = idp.currentKid;
    expect((await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`)).status).toBe(
      200,
    );
    // The fetch that listed the old kid for the last time happened before this.
    const lastListed = Date.now();
    expect(idp.jwksRequests).toBe(1);
    const newKid = await idp.rotate();
    idp.unpublish(oldKid);
    // Half-way through the cache age, a token never seen before: the key itself is cached.
    await sleepUntil(lastListed + CACHE_MS / 2);
    const again = await idp.sign({ jti: 'second-token' }, { kid: oldKid });
    expect((await agent.get('/me').set('Authorization', `Bearer ${again}`)).status).toBe(200);
    expect(idp.jwksRequests).toBe(1);
    // Counted from the last listing, not from the last use: that use does not extend it.
    await sleepUntil(lastListed + CACHE_MS + 150);
    const late = await idp.sign({ jti: 'third-token' }, { kid: oldKid });
    expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${late}`), {
      status: 401,
      code: 'token_key_unknown',
      bearerError: 'invalid_token',
    });
    const current = await idp.sign({ jti: 'fourth-token' }, { kid: newKid });
    expect((await agent.get('/me').set('Authorization', `Bearer ${current}`)).status).toBe(200);
  });

  test('an endpoint that is down: cached keys keep serving, unknown keys get 503, and recovery is seen', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(app({ audit }));
    const token = await idp.sign();
    expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);

    await idp.setMode('down');
    await pastCacheAge(); // the cache entry is past its max age; the refresh fails
    expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);

    await idp.rotate(); // a key the server has never seen, while the endpoint is down
    const unseen = await idp.sign();
    const outage = await agent.get('/me').set('Authorization', `Bearer ${unseen}`);
    expectRefusal(outage, { status: 503, code: 'identity_provider_unavailable' });
    expect((outage.body as { message: string }).message).toBe(
      'The identity provider is unavailable; retry shortly.',
    );
    expect(audit.events.at(-1)).toMatchObject({
      outcome: 'error',
      reason: 'identity_provider_unavailable',
      details: { jwks_uri: idp.jwksUri },
    });

    await idp.setMode('up');
    await pastCacheAge();
    expect((await agent.get('/me').set('Authorization', `Bearer ${unseen}`)).status).toBe(200);
  });

  test('past the stale window, an unreachable endpoint is a 503, never a 401', async () => {
    const agent = await serve(app());
    const token = await idp.sign();
    expect((await agent.get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    await idp.setMode('down');
    await new Promise((resolve) => setTimeout(resolve, CACHE_MS + STALE_MS + 200));
    expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${token}`), {
      status: 503,
      code: 'identity_provider_unavailable',
    });
  });

  test.each(['hang', 'error500'] as const)(
    'an endpoint that answers with %s is a 503',
    async (mode) => {
      const agent = await serve(app());
      await idp.setMode(mode);
      const started = Date.now();
      expectRefusal(await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`), {
        status: 503,
        code: 'identity_provider_unavailable',
      });
      // The configured 500 ms timeout bounds the wait (with generous slack for a loaded machine).
      expect(Date.now() - started).toBeLessThan(5_000);
    },
  );

  test('warm() loads the keys at startup, so the first request needs no fetch', async () => {
    const middleware = authenticate({
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: idp.jwksUri,
      audit: createMemoryAuditSink(),
    });
    await middleware.warm();
    expect(idp.jwksRequests).toBe(1);
    const served = express();
    served.use(middleware);
    served.get('/me', (req, res) => res.json({ user: req.identity?.username }));
    const agent = await serve(served);
    const res = await agent.get('/me').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.body).toEqual({ user: 'alice' });
    expect(idp.jwksRequests).toBe(1);
  });

  test('warm() rejects with a clear error when the JWKS endpoint is wrong or down', async () => {
    const middleware = authenticate({
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: idp.jwksUri.replace('jwks.json', 'nope.json'),
      audit: createMemoryAuditSink(),
    });
    await expect(middleware.warm()).rejects.toMatchObject({
      code: 'identity_provider_unavailable',
      message: expect.stringContaining('could not be loaded at startup'),
    });
  });
});
