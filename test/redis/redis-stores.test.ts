// Each Redis store against a real redis-server, through both clients users run (node-redis and
// ioredis): what it keeps, for how long, atomically where it must, hashed or encrypted, and how
// it fails when Redis cannot answer.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { IdentityError } from 'express-identity-passthrough';
import { createRedisStores, type RedisStores } from 'express-identity-passthrough/redis';
import { redisCommand, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
const closers: (() => Promise<unknown>)[] = [];
const KEY = randomBytes(32).toString('base64');
const OLD_KEY = randomBytes(32).toString('base64');

beforeAll(async () => {
  server = await startRedisServer({ persistence: false });
});
afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  await server.destroy();
});

async function nodeRedis() {
  const client = createClient({ url: server.url, disableOfflineQueue: true });
  client.on('error', () => undefined);
  await client.connect();
  closers.push(() => client.close());
  return client;
}

function ioRedis() {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1, disconnectTimeout: 0 });
  client.on('error', () => undefined);
  closers.push(() => {
    client.disconnect();
    return Promise.resolve();
  });
  return client;
}

const CLIENTS = [
  ['node-redis', nodeRedis],
  ['ioredis', () => Promise.resolve(ioRedis())],
] as const;

/** Every key and string value under a prefix, read with raw commands. */
async function dump(prefix: string): Promise<string> {
  const keys = (await redisCommand(server.port, 'KEYS', `${prefix}*`)) as string[];
  const values = await Promise.all(
    keys.map(async (key) =>
      (await redisCommand(server.port, 'TYPE', key)) === 'string'
        ? String(await redisCommand(server.port, 'GET', key))
        : '',
    ),
  );
  return [...keys, ...values].join('\n');
}

describe.each(CLIENTS)('%s', (label, connect) => {
  let stores: RedisStores;
  const prefix = `t-${label}:`;
  const nowSec = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    stores = createRedisStores({
      client: await connect(),
      prefix,
      encryptionKeys: [{ id: 'k2', key: KEY }],
    });
  });

  test('a sign-out is seen, and kept until the later of two expiries', async () => {
    const sessionId = `session-${label}-1`;
    expect(await stores.sessions.isSessionRevoked(sessionId)).toBe(false);
    await stores.sessions.revokeSession(sessionId, nowSec() + 600);
    await stores.sessions.revokeSession(sessionId, nowSec() + 60); // an earlier one: ignored
    expect(await stores.sessions.isSessionRevoked(sessionId)).toBe(true);
    const keys = (await redisCommand(server.port, 'KEYS', `${prefix}revoked:*`)) as string[];
    expect(keys).toHaveLength(1);
    const ttl = Number(await redisCommand(server.port, 'PTTL', keys[0] ?? ''));
    expect(ttl).toBeGreaterThan(590_000);
    expect(await stores.sessions.isSessionRevoked(`session-${label}-other`)).toBe(false);
  });

  test('a refresh token is used once, even by twenty concurrent callers', async () => {
    const tokenId = `jti-${label}-${randomBytes(4).toString('hex')}`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        Promise.resolve(stores.sessions.consumeRefreshToken(tokenId, nowSec() + 60)),
      ),
    );
    expect(answers.filter(Boolean)).toHaveLength(1);
    expect(await stores.sessions.consumeRefreshToken(`${tokenId}-other`, nowSec() + 60)).toBe(true);
  });

  test('an assertion is used once; SAML request ids are saved, read and removed once', async () => {
    const expiresAtMs = Date.now() + 60_000;
    expect(await stores.samlAssertions.consume(`idp _a1-${label}`, expiresAtMs)).toBe(true);
    expect(await stores.samlAssertions.consume(`idp _a1-${label}`, expiresAtMs)).toBe(false);
    const id = `_req-${label}`;
    expect(await stores.samlRequests.saveAsync(id, '2026-12-06T10:00:00Z')).toMatchObject({
      value: '2026-12-06T10:00:00Z',
    });
    expect(await stores.samlRequests.saveAsync(id, 'again')).toBeNull();
    expect(await stores.samlRequests.getAsync(id)).toBe('2026-12-06T10:00:00Z');
    expect(await stores.samlRequests.removeAsync(id)).toBe(id);
    expect(await stores.samlRequests.removeAsync(id)).toBeNull();
    expect(await stores.samlRequests.getAsync(id)).toBeNull();
  });

  test('IdP tokens are encrypted at rest, readable back, and gone after the session', async () => {
    const tokens = {
      accessToken: `at-${randomBytes(16).toString('hex')}`,
      refreshToken: `rt-${randomBytes(16).toString('hex')}`,
      expiresAtMs: Date.now() + 60_000,
      sessionEndsAtMs: Date.now() + 120_000,
    };
    const sessionId = `sid-${label}-${randomBytes(4).toString('hex')}`;
    await stores.oidcTokens.set(sessionId, tokens);
    expect(await stores.oidcTokens.get(sessionId)).toEqual(tokens);
    const stored = await dump(prefix);
    expect(stored).not.toContain(tokens.accessToken);
    expect(stored).not.toContain(tokens.refreshToken);
    expect(stored).not.toContain(sessionId);
    expect(stored).toMatch(/v1\.k2\./);
    await stores.oidcTokens.delete(sessionId);
    expect(await stores.oidcTokens.get(sessionId)).toBeUndefined();
    // A session already over is not stored at all.
    await stores.oidcTokens.set(sessionId, { ...tokens, sessionEndsAtMs: Date.now() - 1 });
    expect(await stores.oidcTokens.get(sessionId)).toBeUndefined();
  });

  test('exchanged tokens are shared encrypted, and not kept past their expiry', async () => {
    const token = `xt-${randomBytes(16).toString('hex')}`;
    const key = `subjecthash-${label} https://data.example.test`;
    await stores.exchangedTokens.set(key, { token, expiresAtMs: Date.now() + 60_000 });
    expect(await stores.exchangedTokens.get(key)).toEqual({
      token,
      expiresAtMs: expect.any(Number),
    });
    expect(await dump(prefix)).not.toContain(token);
    await stores.exchangedTokens.set(`${key}-old`, { token, expiresAtMs: Date.now() - 1 });
    expect(await stores.exchangedTokens.get(`${key}-old`)).toBeUndefined();
  });

  test('the refresh lock is held by one at a time and released only by its holder', async () => {
    const lock = stores.oidcTokens.lock;
    if (lock === undefined) throw new Error('the Redis token store must lock');
    const sessionId = `sid-lock-${label}`;
    const first = await lock(sessionId, 5_000);
    expect(first).toBeDefined();
    expect(await lock(sessionId, 5_000)).toBeUndefined();
    await first?.();
    const second = await lock(sessionId, 5_000);
    expect(second).toBeDefined();
    await first?.(); // the first holder's release does not free the second's lock
    expect(await lock(sessionId, 5_000)).toBeUndefined();
    await second?.();
  });

  test('MCP sessions: bound, read with their idle time restarted, forgotten', async () => {
    await stores.mcpSessions.bind(`key-${label}`, 'https://idp alice', 60);
    expect(await stores.mcpSessions.ownerOf(`key-${label}`, 120)).toBe('https://idp alice');
    const ttl = Number(await redisCommand(server.port, 'TTL', `${prefix}mcp-session:key-${label}`));
    expect(ttl).toBeGreaterThan(100);
    await stores.mcpSessions.forget(`key-${label}`);
    expect(await stores.mcpSessions.ownerOf(`key-${label}`, 120)).toBeUndefined();
  });

  test('the throttle counts one account across throttles, and blocks the fifth guess', async () => {
    const throttleA = stores.signInThrottle();
    const throttleB = stores.signInThrottle();
    const account = `carol-${label}`;
    const outcomes: (number | string)[] = [];
    for (const throttle of [throttleA, throttleB, throttleA, throttleB, throttleA, throttleB]) {
      try {
        const attempt = await throttle.attempt(account, '10.0.0.7');
        await attempt.resolvedTo(`guid-${label}`);
        outcomes.push(401); // a wrong password: left counted
      } catch (error) {
        outcomes.push(error instanceof IdentityError ? error.status : 'other');
      }
    }
    expect(outcomes).toEqual([401, 401, 401, 401, 429, 429]);
    // Names are stored as hashes only.
    expect(await dump(`${prefix}{throttle}`)).not.toContain(account);
    // Positive control: another account from the same address is not blocked, and a success
    // clears its count: after three failures and a success, four more failures are allowed.
    const dave = `dave-${label}`;
    const fail = async () => (await throttleA.attempt(dave, '10.0.0.8')).resolvedTo('dave-guid');
    for (let index = 0; index < 3; index += 1) await fail();
    const right = await throttleB.attempt(dave, '10.0.0.8');
    await right.resolvedTo('dave-guid');
    await right.succeeded();
    for (let index = 0; index < 4; index += 1) await fail();
    await expect(fail()).rejects.toMatchObject({ code: 'too_many_attempts' });
  });

  test('an uncounted attempt gives its failure back', async () => {
    const throttle = stores.signInThrottle({ maxFailuresPerAccount: 2 });
    const account = `erin-${label}`;
    for (let index = 0; index < 5; index += 1) {
      const attempt = await throttle.attempt(account, undefined);
      await attempt.uncounted(); // the directory was down: not the user's guess
    }
    // Two counted failures block the third attempt: the five uncounted ones left no trace.
    await throttle.attempt(account, undefined);
    await throttle.attempt(account, undefined);
    await expect(throttle.attempt(account, undefined)).rejects.toMatchObject({
      code: 'too_many_attempts',
    });
  });
});

describe('options', () => {
  test('a misconfiguration fails at startup, naming the option', async () => {
    const client = await nodeRedis();
    expect(() => createRedisStores({ client: {} as never })).toThrow(/option "client"/);
    expect(() =>
      createRedisStores({ client, encryptionKeys: [{ id: 'k', key: 'c2hvcnQ=' }] }),
    ).toThrow(/option "encryptionKeys\.0\.key".*32 bytes/);
    expect(() => createRedisStores({ client, revocationCacheMs: 60_000 })).toThrow(
      /option "revocationCacheMs"/,
    );
    const withoutKeys = createRedisStores({ client });
    expect(() => withoutKeys.oidcTokens).toThrow(/option "encryptionKeys" is needed/);
    // Positive control.
    expect(createRedisStores({ client }).sessions).toBeDefined();
  });

  test('account names are keyed with a secret when there is one: a list of names does not reverse them', async () => {
    const client = await nodeRedis();
    const hashOf = (name: string) => createHash('sha256').update(name).digest('base64url');
    // Without a secret there is no throttle at all: names would be stored reversibly.
    expect(() => createRedisStores({ client, prefix: 'plain:' }).signInThrottle()).toThrow(
      /option "nameHashSecret" \(or "encryptionKeys"\) is needed/,
    );
    const keyed = createRedisStores({
      client,
      prefix: 'keyed:',
      encryptionKeys: [{ id: 'k', key: KEY }],
    });
    await keyed.signInThrottle().attempt('gina', '192.0.2.1');
    const stored = await dump('keyed:');
    expect(stored).not.toContain(hashOf('gina'));
    expect(stored).not.toContain(hashOf('192.0.2.1'));
    expect(stored).toContain('keyed:{throttle}-name:');
  });

  test('rotation: a value written under the old key is read after a new key is put first', async () => {
    const client = await nodeRedis();
    const before = createRedisStores({
      client,
      prefix: 'rot:',
      encryptionKeys: [{ id: 'old', key: OLD_KEY }],
    });
    const tokens = {
      accessToken: 'a',
      expiresAtMs: Date.now() + 60_000,
      sessionEndsAtMs: Date.now() + 60_000,
    };
    await before.oidcTokens.set('s1', tokens);
    const after = createRedisStores({
      client,
      prefix: 'rot:',
      encryptionKeys: [
        { id: 'new', key: KEY },
        { id: 'old', key: OLD_KEY },
      ],
    });
    expect(await after.oidcTokens.get('s1')).toEqual(tokens);
    await after.oidcTokens.set('s2', tokens);
    expect(await dump('rot:')).toMatch(/v1\.new\./);
    // Without the old key, the old value cannot be read: an error, not a forged answer.
    const newOnly = createRedisStores({
      client,
      prefix: 'rot:',
      encryptionKeys: [{ id: 'new', key: KEY }],
    });
    // Without the old key, the old value cannot be read: it is forgotten (the user signs in
    // again), never answered wrongly and never an outage that lasts until the session ends.
    expect(await newOnly.oidcTokens.get('s1')).toBeUndefined();
    expect(await dump('rot:')).not.toMatch(/v1\.old\./);
  });

  test('a value moved under another session key does not decrypt', async () => {
    const client = await nodeRedis();
    const stores = createRedisStores({
      client,
      prefix: 'swap:',
      encryptionKeys: [{ id: 'k', key: KEY }],
    });
    const tokens = {
      accessToken: 'victim',
      expiresAtMs: Date.now() + 60_000,
      sessionEndsAtMs: Date.now() + 60_000,
    };
    await stores.oidcTokens.set('victim-session', tokens);
    await stores.oidcTokens.set('attacker-session', { ...tokens, accessToken: 'attacker' });
    const keys = ((await redisCommand(server.port, 'KEYS', 'swap:*')) as string[]).sort();
    const values = await Promise.all(keys.map((key) => redisCommand(server.port, 'GET', key)));
    // Swap the two values, as someone with write access to Redis could.
    await redisCommand(server.port, 'SET', keys[0] ?? '', String(values[1]));
    await redisCommand(server.port, 'SET', keys[1] ?? '', String(values[0]));
    expect(await stores.oidcTokens.get('attacker-session')).toBeUndefined();
    expect(await stores.oidcTokens.get('victim-session')).toBeUndefined();
  });
});

describe('when Redis cannot answer', () => {
  test('every store fails within the command timeout, and works again after', async () => {
    const own = await startRedisServer({ persistence: true });
    try {
      const client = createClient({ url: own.url });
      client.on('error', () => undefined);
      await client.connect();
      closers.push(() => client.close());
      // A client with an offline queue: the store's own deadline must still bound each call.
      const stores = createRedisStores({
        client,
        commandTimeoutMs: 300,
        nameHashSecret: randomBytes(32),
      });
      await stores.sessions.revokeSession('revoked-before', nowSecOf() + 600);
      await own.stop();
      const started = Date.now();
      const outcomes = await Promise.allSettled([
        stores.sessions.isSessionRevoked('revoked-before'),
        stores.sessions.consumeRefreshToken('jti', nowSecOf() + 60),
        stores.samlAssertions.consume('a', Date.now() + 60_000),
        stores.mcpSessions.ownerOf('k', 60),
        stores.signInThrottle().attempt('frank', undefined),
      ]);
      const elapsed = Date.now() - started;
      expect(outcomes.map((outcome) => outcome.status)).toEqual(Array(5).fill('rejected'));
      expect(elapsed).toBeLessThan(2_000);
      // The throttle turns the outage into the package's 503 itself.
      const throttleError = (outcomes[4] as PromiseRejectedResult).reason as IdentityError;
      expect([throttleError.code, throttleError.status]).toEqual([
        'session_store_unavailable',
        503,
      ]);
      await own.start();
      let revoked: boolean | undefined;
      for (let attempt = 0; attempt < 50 && revoked === undefined; attempt += 1) {
        revoked = await Promise.resolve(stores.sessions.isSessionRevoked('revoked-before')).catch(
          () => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)),
        );
      }
      expect(revoked).toBe(true); // persistence on: the sign-out survived the restart
    } finally {
      await own.destroy();
    }
  }, 20_000);
});

function nowSecOf(): number {
  return Math.floor(Date.now() / 1000);
}
