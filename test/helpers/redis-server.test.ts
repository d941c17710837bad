// The Redis stores' tests trust this fixture; these prove it behaves like the server they assume
// (its own port and directory, data kept across restarts only with persistence) and measure how
// node-redis v5 and ioredis 5 fail while it is down: the numbers the stores' fail-fast settings
// are chosen from.
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import {
  ClientOfflineError,
  createClient,
  SocketClosedUnexpectedlyError,
  TimeoutError,
  type RedisClientOptions,
} from 'redis';
import {
  redisCommand,
  RedisReplyError,
  startRedisServer,
  type RedisServer,
  type RedisServerOptions,
} from './redis-server.js';

// Run in reverse: a test's clients go before the server they talk to.
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(options?: RedisServerOptions): Promise<RedisServer> {
  const started = await startRedisServer(options);
  cleanups.push(() => started.destroy());
  return started;
}

/**
 * node-redis, connected. The error listener is required, not tidiness: without one, connect()
 * rejects at the first ECONNREFUSED instead of retrying, and a connected client's "Socket closed
 * unexpectedly" becomes an uncaught exception that kills the process.
 */
async function nodeRedis(url: string, options: RedisClientOptions = {}) {
  const client = createClient({ url, ...options });
  const errors: Error[] = [];
  client.on('error', (error: Error) => errors.push(error));
  cleanups.push(() => {
    client.destroy();
  });
  await client.connect();
  return { client, errors };
}

/**
 * ioredis, ready. Without an error listener it logs "[ioredis] Unhandled error event" instead.
 * disconnect() arms a `disconnectTimeout` timer (2 s) that only the socket's close clears; with
 * the server down, the socket closed long before, so the timer would hold Jest's worker for 2 s.
 */
async function ioRedis(url: string, options: RedisOptions = {}) {
  const client = new Redis(url, { disconnectTimeout: 0, ...options });
  client.on('error', () => undefined);
  cleanups.push(() => {
    client.disconnect();
  });
  if (client.status !== 'ready') await once(client, 'ready', { signal: AbortSignal.timeout(5000) });
  return client;
}

/**
 * Until the client has seen the connection close. stop() returns once redis-server has exited,
 * but the client may not have read the close yet: a command sent in that window is written to
 * the dead socket and rejected as "Socket closed unexpectedly", not queued.
 */
async function untilOffline(isReady: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 2000; isReady();) {
    if (Date.now() > deadline) throw new Error('The client did not notice the outage within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type Outcome =
  | { state: 'resolved'; value: unknown; ms: number }
  | { state: 'rejected'; error: Error; ms: number }
  | { state: 'pending'; ms: number };

/** What became of `promise` within `limitMs`, and after how long. */
async function within(promise: Promise<unknown>, limitMs: number): Promise<Outcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      (value): Outcome => ({ state: 'resolved', value, ms: ms() }),
      (error: unknown): Outcome => ({ state: 'rejected', error: error as Error, ms: ms() }),
    ),
    new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve({ state: 'pending', ms: ms() }), limitMs);
    }),
  ]);
  clearTimeout(timer);
  return outcome;
}

describe('startRedisServer()', () => {
  test('answers PING on its own 127.0.0.1 port', async () => {
    const redis = await server();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    await expect(redisCommand(redis.port, 'PING')).resolves.toBe('PONG');
    const config = await redisCommand(redis.port, 'CONFIG', 'GET', 'bind');
    expect(config).toEqual(['bind', '127.0.0.1']);
  });

  test('node-redis v5 and ioredis 5 write and read the same server', async () => {
    const redis = await server();
    const { client } = await nodeRedis(redis.url);
    const io = await ioRedis(redis.url);
    await client.set('from:node-redis', 'a');
    await io.set('from:ioredis', 'b');
    expect(await io.get('from:node-redis')).toBe('a');
    expect(await client.get('from:ioredis')).toBe('b');
    const keys = (await redisCommand(redis.port, 'KEYS', '*')) as string[];
    expect(keys.sort()).toEqual(['from:ioredis', 'from:node-redis']);
  });

  test('two servers at once have their own ports, directories and data', async () => {
    const [one, two] = await Promise.all([server(), server()]);
    expect(one.port).not.toBe(two.port);
    expect(one.dir).not.toBe(two.dir);
    await redisCommand(one.port, 'SET', 'k', 'one');
    await expect(redisCommand(two.port, 'GET', 'k')).resolves.toBeNull();
  });

  test('start() while running is an error', async () => {
    const redis = await server();
    await expect(redis.start()).rejects.toThrow(`already running on port ${redis.port}`);
  });

  test('start() on a port taken meanwhile fails with the server log', async () => {
    const redis = await server();
    await redis.stop();
    // Hangs up at once: a connection it never read would keep close() waiting forever.
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(redis.port, '127.0.0.1', resolve));
    try {
      const start = redis.start();
      await expect(start).rejects.toThrow(/^redis-server exited \(1\)\n--- redis-server log ---\n/);
      await expect(start).rejects.toThrow(`127.0.0.1:${redis.port}: bind: Address already in use`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  test('destroy() stops the server and removes its directory', async () => {
    const redis = await startRedisServer();
    expect(existsSync(join(redis.dir, 'redis.conf'))).toBe(true);
    await redis.destroy();
    expect(existsSync(redis.dir)).toBe(false);
    await expect(redisCommand(redis.port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('persistence', () => {
  test('default: what was set before stop() is back after start()', async () => {
    const redis = await server();
    const { client } = await nodeRedis(redis.url, { disableOfflineQueue: true });
    await client.set('session:1', 'alice');
    await redis.stop();
    expect(await within(client.get('session:1'), 1000)).toMatchObject({ state: 'rejected' });
    await redis.start();
    await expect(redisCommand(redis.port, 'GET', 'session:1')).resolves.toBe('alice');
    expect(existsSync(join(redis.dir, 'appendonlydir'))).toBe(true);
  });

  test('default: what was set survives kill() (appendfsync always)', async () => {
    const redis = await server();
    await redisCommand(redis.port, 'SET', 'session:1', 'alice');
    await redis.kill();
    await redis.start();
    await expect(redisCommand(redis.port, 'GET', 'session:1')).resolves.toBe('alice');
  });

  test('persistence: false: every start() begins empty', async () => {
    const redis = await server({ persistence: false });
    await redisCommand(redis.port, 'SET', 'session:1', 'alice');
    await redis.stop();
    await redis.start();
    await expect(redisCommand(redis.port, 'GET', 'session:1')).resolves.toBeNull();
    await expect(redisCommand(redis.port, 'DBSIZE')).resolves.toBe(0);
    expect(existsSync(join(redis.dir, 'appendonlydir'))).toBe(false);
  });
});

describe('redisCommand()', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer({ persistence: false });
  });
  afterAll(async () => {
    await redis.destroy();
  });

  test('parses simple strings, integers, bulk strings, nil and arrays', async () => {
    const port = redis.port;
    await expect(redisCommand(port, 'SET', 'sess:é', 'value with\r\nCRLF')).resolves.toBe('OK');
    await expect(redisCommand(port, 'GET', 'sess:é')).resolves.toBe('value with\r\nCRLF');
    await expect(redisCommand(port, 'INCR', 'counter')).resolves.toBe(1);
    await expect(redisCommand(port, 'GET', 'missing')).resolves.toBeNull();
    await redisCommand(port, 'RPUSH', 'list', 'a', 'b');
    await expect(redisCommand(port, 'LRANGE', 'list', 0, -1)).resolves.toEqual(['a', 'b']);
    await expect(redisCommand(port, 'SCAN', 0, 'MATCH', 'sess:*', 'COUNT', 100)).resolves.toEqual([
      '0',
      ['sess:é'],
    ]);
  });

  test('an error reply rejects with RedisReplyError and the server message', async () => {
    const reply = redisCommand(redis.port, 'NOSUCHCOMMAND');
    await expect(reply).rejects.toBeInstanceOf(RedisReplyError);
    await expect(reply).rejects.toThrow(/^ERR unknown command 'NOSUCHCOMMAND'/);
  });
});

// How each client fails while the server is down, once it has noticed (untilOffline). The
// node-redis error classes leave `name` as "Error": tell them apart with instanceof.
describe('node-redis v5 while the server is down', () => {
  test('default: a command waits in the offline queue, and runs once the server is back', async () => {
    const redis = await server();
    const { client, errors } = await nodeRedis(redis.url);
    await client.set('k', 'v');
    await redis.stop();
    await untilOffline(() => client.isReady);
    const get = client.get('k');
    expect(await within(get, 3000)).toMatchObject({ state: 'pending' });
    // One "Socket closed unexpectedly", then an ECONNREFUSED per reconnection attempt.
    expect(errors[0]).toBeInstanceOf(SocketClosedUnexpectedlyError);
    expect(errors.at(-1)).toMatchObject({ code: 'ECONNREFUSED' });
    await redis.start();
    // Reconnection backs off exponentially up to 2 s (+ up to 200 ms of jitter).
    expect(await within(get, 3000)).toMatchObject({ state: 'resolved', value: 'v' });
  });

  test('default: connect() to a server that is down keeps retrying, it does not reject', async () => {
    const redis = await server();
    await redis.stop();
    const client = createClient({ url: redis.url });
    const errors: Error[] = [];
    client.on('error', (error: Error) => errors.push(error));
    cleanups.push(() => {
      client.destroy();
    });
    expect(await within(client.connect(), 1000)).toMatchObject({ state: 'pending' });
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  test('disableOfflineQueue: true: a command rejects at once with ClientOfflineError', async () => {
    const redis = await server();
    const { client } = await nodeRedis(redis.url, { disableOfflineQueue: true });
    await redis.stop();
    await untilOffline(() => client.isReady);
    const outcome = await within(client.get('k'), 1000);
    expect(outcome).toMatchObject({
      state: 'rejected',
      error: { message: 'The client is offline' },
    });
    expect((outcome as { error: Error }).error).toBeInstanceOf(ClientOfflineError);
    expect(outcome.ms).toBeLessThan(50);
    // Back up, it still fails until its next reconnection attempt (up to ~2.2 s later).
    await redis.start();
    if (!client.isReady) await once(client, 'ready', { signal: AbortSignal.timeout(3000) });
    await expect(client.get('k')).resolves.toBeNull();
  });

  test('commandOptions.timeout: a queued command rejects with an empty-message TimeoutError', async () => {
    const redis = await server();
    const { client } = await nodeRedis(redis.url, { commandOptions: { timeout: 300 } });
    await redis.stop();
    await untilOffline(() => client.isReady);
    const outcome = await within(client.get('k'), 2000);
    expect(outcome).toMatchObject({ state: 'rejected' });
    expect((outcome as { error: Error }).error).toBeInstanceOf(TimeoutError);
    // No message: a store that logs error.message alone logs "".
    expect((outcome as { error: Error }).error.message).toBe('');
    expect(outcome.ms).toBeGreaterThanOrEqual(290);
    expect(outcome.ms).toBeLessThan(600);
  });
});

describe('ioredis 5 while the server is down', () => {
  test('default: a command fails after 20 reconnection attempts, about 10.5 s', async () => {
    const redis = await server();
    const client = await ioRedis(redis.url);
    await redis.stop();
    await untilOffline(() => client.status === 'ready');
    const outcome = await within(client.get('k'), 15_000);
    expect(outcome).toMatchObject({
      state: 'rejected',
      error: { name: 'MaxRetriesPerRequestError' },
    });
    // retryStrategy min(50 ms * attempt, 2 s): 50 + 100 + ... + 1000 = 10.5 s for 20 attempts.
    expect(outcome.ms).toBeGreaterThan(9500);
    expect(outcome.ms).toBeLessThan(13_000);
  }, 30_000);

  test('maxRetriesPerRequest: 1: a command fails after one reconnection attempt', async () => {
    const redis = await server();
    const client = await ioRedis(redis.url, { maxRetriesPerRequest: 1 });
    await redis.stop();
    await untilOffline(() => client.status === 'ready');
    const outcome = await within(client.get('k'), 2000);
    expect(outcome).toMatchObject({
      state: 'rejected',
      error: { name: 'MaxRetriesPerRequestError' },
    });
    expect(outcome.ms).toBeLessThan(500);
  });

  test('enableOfflineQueue: false: a command rejects at once, even before the first ready', async () => {
    const redis = await server();
    const early = new Redis(redis.url, { enableOfflineQueue: false, disconnectTimeout: 0 });
    early.on('error', () => undefined);
    cleanups.push(() => {
      early.disconnect();
    });
    // The very first command, issued while the client is still connecting.
    await expect(early.get('k')).rejects.toThrow(
      "Stream isn't writeable and enableOfflineQueue options is false",
    );
    const client = await ioRedis(redis.url, { enableOfflineQueue: false });
    await redis.stop();
    await untilOffline(() => client.status === 'ready');
    const outcome = await within(client.get('k'), 1000);
    expect(outcome).toMatchObject({ state: 'rejected' });
    expect(outcome.ms).toBeLessThan(50);
  });

  test('commandTimeout: a queued command rejects with "Command timed out"', async () => {
    const redis = await server();
    const client = await ioRedis(redis.url, { commandTimeout: 300 });
    await redis.stop();
    await untilOffline(() => client.status === 'ready');
    const outcome = await within(client.get('k'), 2000);
    expect(outcome).toMatchObject({ state: 'rejected', error: { message: 'Command timed out' } });
    expect(outcome.ms).toBeGreaterThanOrEqual(290);
    expect(outcome.ms).toBeLessThan(600);
  });
});
