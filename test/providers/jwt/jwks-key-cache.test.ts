import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwksKeySource } from '../../../lib/providers/jwt/jwks-key-source.js';

// A JWKS endpoint on 127.0.0.1 whose document the test changes at will.
let document: { keys: object[] } = { keys: [] };
let fetches = 0;
let server: Server;
let jwksUri: string;
beforeAll(async () => {
  server = createServer((_req, res) => {
    fetches += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function rsaKey(): { publicKey: KeyObject; jwk: object } {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { publicKey, jwk: publicKey.export({ format: 'jwk' }) };
}

function source(cacheMaxAgeMs: number) {
  return jwksKeySource({
    jwksUri,
    cacheMaxAgeMs,
    staleIfErrorMs: 0,
    requestsPerMinute: 100,
    timeoutMs: 2_000,
    algorithms: undefined,
    fetch: globalThis.fetch,
    now: Date.now,
  });
}

test('a key resolved once is answered at once afterwards, by kid and, for a single-key JWKS, without one', async () => {
  const key = rsaKey();
  document = { keys: [{ ...key.jwk, kid: 'k1', alg: 'RS256', use: 'sig' }] };
  fetches = 0;
  const keys = source(60_000);
  const first = await keys.resolve({ alg: 'RS256', kid: 'k1' });
  // The second answer is not a promise: no jwks-rsa lookup, no microtask.
  const second = keys.resolve({ alg: 'RS256', kid: 'k1' });
  expect(second).not.toBeInstanceOf(Promise);
  expect(second).toBe(first);
  expect((first.key as KeyObject).equals(key.publicKey)).toBe(true);
  await keys.resolve({ alg: 'RS256' });
  expect(keys.resolve({ alg: 'RS256' })).not.toBeInstanceOf(Promise);
  expect(fetches).toBe(1);
});

test('a kid the endpoint now lists with another key is answered with the new key once the cache age has passed', async () => {
  const before = rsaKey();
  const after = rsaKey();
  document = { keys: [{ ...before.jwk, kid: 'k', alg: 'RS256' }] };
  const keys = source(300);
  const old = await keys.resolve({ alg: 'RS256', kid: 'k' });
  expect((old.key as KeyObject).equals(before.publicKey)).toBe(true);
  document = { keys: [{ ...after.jwk, kid: 'k', alg: 'RS256' }] };
  await new Promise((resolve) => setTimeout(resolve, 400));
  const renewed = await keys.resolve({ alg: 'RS256', kid: 'k' });
  expect((renewed.key as KeyObject).equals(after.publicKey)).toBe(true);
  // And from then on the new key is the one answered at once.
  const again = keys.resolve({ alg: 'RS256', kid: 'k' });
  expect(again).not.toBeInstanceOf(Promise);
  expect(((again as Awaited<typeof again>).key as KeyObject).equals(after.publicKey)).toBe(true);
});
