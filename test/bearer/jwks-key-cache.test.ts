import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwksKeySource } from '../../lib/bearer/jwks-key-source.js';

// A JWKS endpoint on 127.0.0.1 whose document the test changes at will.
let document: { keys: object[] } = { keys: [] };
let fetches = 0;
let failing = false;
let server: Server;
let jwksUri: string;
beforeAll(async () => {
  server = createServer((_req, res) => {
    fetches += 1;
    if (failing) {
      res.writeHead(503).end();
      return;
    }
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

describe('a token without kid', () => {
  async function outcome(keys: ReturnType<typeof source>): Promise<string> {
    try {
      await keys.resolve({ alg: 'RS256' });
      return 'accepted';
    } catch (error) {
      return (error as { code?: string }).code ?? 'thrown';
    }
  }

  test('against a JWKS of two keys is refused every time, whatever the cache holds', async () => {
    const first = rsaKey();
    const second = rsaKey();
    document = {
      keys: [
        { ...first.jwk, kid: 'a', alg: 'RS256' },
        { ...second.jwk, kid: 'b', alg: 'RS256' },
      ],
    };
    const keys = source(300);
    const seen: string[] = [];
    // Interleaved with lookups by kid (which fill the caches) and across cache expiries.
    for (let round = 0; round < 6; round += 1) {
      seen.push(await outcome(keys));
      await keys.resolve({ alg: 'RS256', kid: round % 2 === 0 ? 'a' : 'b' });
      seen.push(await outcome(keys));
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    expect(new Set(seen)).toEqual(new Set(['token_key_unknown']));
  });

  test('against a JWKS of one key is accepted every time, and follows the JWKS when it grows', async () => {
    const only = rsaKey();
    document = { keys: [{ ...only.jwk, kid: 'a', alg: 'RS256' }] };
    const keys = source(300);
    for (let round = 0; round < 4; round += 1) {
      expect(await outcome(keys)).toBe('accepted');
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    document = { keys: [...document.keys, { ...rsaKey().jwk, kid: 'b', alg: 'RS256' }] };
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await outcome(keys)).toBe('token_key_unknown');
  });

  test('many kid-less tokens against a two-key JWKS cost one fetch per cache age, not one each', async () => {
    document = {
      keys: [
        { ...rsaKey().jwk, kid: 'a', alg: 'RS256' },
        { ...rsaKey().jwk, kid: 'b', alg: 'RS256' },
      ],
    };
    const keys = source(60_000);
    fetches = 0;
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => outcome(keys)));
    for (let i = 0; i < 50; i += 1) outcomes.push(await outcome(keys));
    expect(new Set(outcomes)).toEqual(new Set(['token_key_unknown']));
    expect(fetches).toBe(1);
  });
});

test('a JWKS key that names no algorithm is used with RS256 only, unless the options name others', async () => {
  const key = rsaKey();
  document = {
    keys: [
      { ...key.jwk, kid: 'bare' },
      { ...key.jwk, kid: 'pss', alg: 'PS256' },
    ],
  };
  const keys = source(60_000);
  expect((await keys.resolve({ alg: 'PS256', kid: 'bare' })).algorithms).toEqual(['RS256']);
  expect((await keys.resolve({ alg: 'PS256', kid: 'pss' })).algorithms).toEqual(['PS256']);
  const configured = jwksKeySource({
    jwksUri,
    cacheMaxAgeMs: 60_000,
    staleIfErrorMs: 0,
    requestsPerMinute: 100,
    timeoutMs: 2_000,
    algorithms: ['RS256', 'PS256'],
    fetch: globalThis.fetch,
    now: Date.now,
  });
  expect((await configured.resolve({ alg: 'PS256', kid: 'bare' })).algorithms).toEqual([
    'RS256',
    'PS256',
  ]);
});

test('kid-less tokens during a JWKS outage spend the fetch budget, not one fetch each', async () => {
  document = { keys: [{ ...rsaKey().jwk, kid: 'a', alg: 'RS256' }] };
  const keys = jwksKeySource({
    jwksUri,
    cacheMaxAgeMs: 200,
    staleIfErrorMs: 60_000,
    requestsPerMinute: 5,
    timeoutMs: 2_000,
    algorithms: undefined,
    fetch: globalThis.fetch,
    now: Date.now,
  });
  const outcome = async () => {
    try {
      await keys.resolve({ alg: 'RS256' });
      return 'accepted';
    } catch (error) {
      return (error as { code?: string }).code ?? 'thrown';
    }
  };
  expect(await outcome()).toBe('accepted');
  failing = true;
  try {
    await new Promise((resolve) => setTimeout(resolve, 250));
    fetches = 0;
    const outcomes: string[] = [];
    for (let i = 0; i < 200; i += 1) outcomes.push(await outcome());
    // The last listing stays good within the stale window; the endpoint is asked a few times.
    expect(new Set(outcomes)).toEqual(new Set(['accepted']));
    expect(fetches).toBeLessThanOrEqual(5);
    expect(fetches).toBeGreaterThanOrEqual(1);
  } finally {
    failing = false;
  }
});
