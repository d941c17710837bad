import { redisCommands, isRedisClient } from '../../redis/redis-commands.js';
import { isRecord } from '../explain/config-module.js';
import { fail, ok, problemOf, withinTimeout, type DoctorCheck } from './doctor-check.js';

/**
 * Whether Redis answers `PING`: through the application's own client (`client`, as
 * `createRedisStores()` takes it), or through a client of the `redis` package the doctor
 * opens to `url` and closes again. The URL is reported without its password.
 *
 * @example
 * ```ts
 * await checkRedis({ url: 'redis://127.0.0.1:6379' }, 5000);
 * ```
 */
export async function checkRedis(options: unknown, timeoutMs: number): Promise<DoctorCheck> {
  const client = isRecord(options) ? options['client'] : undefined;
  const url = isRecord(options) ? options['url'] : undefined;
  if (isRedisClient(client)) {
    try {
      const reply = await redisCommands(client, timeoutMs).send('', ['PING']);
      return answered(reply, "the application's client");
    } catch (error) {
      return down("the application's client", error);
    }
  }
  if (typeof url !== 'string') {
    return fail(
      'redis.ping',
      'neither "url" nor "client" is given',
      'Give the Redis URL ("url"), or the client createRedisStores() receives ("client").',
    );
  }
  const shown = withoutPassword(url);
  const redis = await import('redis').catch(() => undefined);
  if (redis === undefined) {
    return fail(
      'redis.ping',
      `${shown}: the "redis" package is not installed`,
      'Run: npm install redis',
    );
  }
  let connection: ReturnType<typeof redis.createClient>;
  try {
    // Parsed by the client: an invalid URL throws an error that quotes it, password and all.
    connection = redis.createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: timeoutMs, reconnectStrategy: false },
    });
  } catch {
    return fail(
      'redis.ping',
      `${shown}: not a valid Redis URL`,
      'Use redis://[:password@]host:port (percent-encode "#", "/" and "?" in the password).',
    );
  }
  // Connection errors arrive as events too; the rejected connect() reports them.
  connection.on('error', () => undefined);
  try {
    const reply = await withinTimeout(timeoutMs, async () => {
      await connection.connect();
      return connection.ping();
    });
    return answered(reply, shown);
  } catch (error) {
    return down(shown, error);
  } finally {
    // A client whose connection failed is closed already, and destroy() would throw.
    if (connection.isOpen) connection.destroy();
  }
}

function answered(reply: unknown, where: string): DoctorCheck {
  return reply === 'PONG'
    ? ok('redis.ping', `${where} answers PING`)
    : fail(
        'redis.ping',
        `${where} answers PING with something else than PONG`,
        'Check that the URL names a Redis or Valkey server.',
      );
}

function down(where: string, error: unknown): DoctorCheck {
  const text = problemOf(error);
  return fail(
    'redis.ping',
    `${where} does not answer PING: ${/NOAUTH|WRONGPASS/.test(String((error as Error | undefined)?.message)) ? 'authentication refused' : text}`,
    'Start Redis, or correct the URL (and its password); sign-outs and sign-in state are unavailable without it (503).',
  );
}

// A Redis URL may carry a password (redis://:secret@host): the report names the server only.
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.username = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'the configured Redis URL';
  }
}
