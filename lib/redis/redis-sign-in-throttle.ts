import { IdentityError } from '../core/errors.js';
import {
  accountName,
  clientName,
  DEFAULT_FAILURE_WINDOW_MS,
  DEFAULT_MAX_FAILURES_PER_ACCOUNT,
  DEFAULT_MAX_FAILURES_PER_CLIENT,
  type SignInAttempt,
  type SignInThrottle,
  type SignInThrottleOptions,
} from '../core/sign-in-throttle.js';
import { storeCall } from '../core/store-call.js';
import type { RedisCommands } from './redis-commands.js';
import { hashedKey } from './redis-keys.js';

// Refuses when any counter is at its limit, otherwise counts one failure on each: in one step,
// so that attempts arriving together at several instances cannot all slip under the limit.
// ARGV: per key, its limit, its window, and 1 when each failure restarts the window.
const CHECK_AND_COUNT = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i * 3 - 2]) then return {0, i, redis.call('PTTL', KEYS[i])} end
end
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  if ARGV[i * 3] == '1' or n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[i * 3 - 1]) end
end
return {1, 0, 0}`;

// Gives one failure back, and forgets a counter that reaches zero.
const UNCOUNT = `
for i = 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 1`;

const STORE_DOWN = "The sign-in throttle's store cannot be reached; retry shortly.";

interface Counter {
  readonly key: string;
  readonly limit: number;
  readonly sliding: boolean;
  readonly scope: 'account' | 'client';
}

/**
 * The sign-in throttle of {@link createSignInThrottle}, counted in Redis: six wrong passwords
 * spread over several instances are six failures of one account. Names and addresses are
 * stored as hashes. When Redis cannot answer, a sign-in is refused with 503 rather than let a
 * guess through uncounted.
 */
export function redisSignInThrottle(
  redis: RedisCommands,
  prefix: string,
  nameSecret: Buffer,
  options: SignInThrottleOptions = {},
): SignInThrottle {
  const perAccount = options.maxFailuresPerAccount ?? DEFAULT_MAX_FAILURES_PER_ACCOUNT;
  const perClient = options.maxFailuresPerClient ?? DEFAULT_MAX_FAILURES_PER_CLIENT;
  const windowMs = options.windowMs ?? DEFAULT_FAILURE_WINDOW_MS;
  const counter = (kind: 'name' | 'account' | 'client', id: string): Counter => ({
    // One hash tag for every throttle key: a Redis Cluster runs the scripts over several of them.
    key: hashedKey(prefix, `{throttle}-${kind}`, id, nameSecret),
    limit: kind === 'client' ? perClient : perAccount,
    // As in memory: an account's window restarts with each failure, a client's does not.
    sliding: kind !== 'client',
    scope: kind === 'client' ? 'client' : 'account',
  });
  const count = (counters: readonly Counter[]) => checkAndCount(redis, counters, windowMs);
  return {
    async attempt(account, client) {
      const counters = [counter('name', accountName(account))];
      if (client !== undefined) counters.push(counter('client', clientName(client)));
      await count(counters);
      return redisAttempt(redis, counters, (key) =>
        count([counter('account', key)]).then(() => counter('account', key)),
      );
    },
  };
}

function redisAttempt(
  redis: RedisCommands,
  counted: Counter[],
  countAccount: (key: string) => Promise<Counter>,
): SignInAttempt {
  let settled = false;
  const uncount = async (counters: readonly Counter[]) => {
    if (counters.length === 0) return;
    const keys = counters.map((c) => c.key);
    await send(redis, keys, ['EVAL', UNCOUNT, keys.length, ...keys]);
  };
  return {
    async resolvedTo(accountKey) {
      if (typeof accountKey !== 'string' || accountKey.length === 0) {
        throw new TypeError('resolvedTo(accountKey): expected a non-empty string');
      }
      if (settled) return;
      counted.push(await countAccount(accountKey));
    },
    async succeeded() {
      if (settled) return;
      settled = true;
      // The directory forgets an account's failures when its password is right; a client's
      // other failures (other accounts) still stand.
      const cleared = counted.filter((c) => c.scope === 'account').map((c) => c.key);
      if (cleared.length > 0) await send(redis, cleared, ['DEL', ...cleared]);
      await uncount(counted.filter((c) => c.scope === 'client'));
    },
    async uncounted() {
      if (settled) return;
      settled = true;
      await uncount(counted);
    },
  };
}

async function checkAndCount(
  redis: RedisCommands,
  counters: readonly Counter[],
  windowMs: number,
): Promise<void> {
  const keys = counters.map((c) => c.key);
  const args = counters.flatMap((c) => [c.limit, windowMs, c.sliding ? 1 : 0]);
  const answer = await send(redis, keys, ['EVAL', CHECK_AND_COUNT, keys.length, ...keys, ...args]);
  const [allowed, index, pttl] = (answer as unknown[]).map(Number);
  if (allowed === 1) return;
  const blocked = counters[(index ?? 1) - 1];
  throw new IdentityError(
    'too_many_attempts',
    'Too many failed sign-in attempts; wait before trying again, or contact your administrator if you have forgotten your password.',
    {
      retryAfterSec: Math.max(1, (pttl ?? 0) / 1000),
      details: { scope: blocked?.scope ?? 'account' },
    },
  );
}

function send(redis: RedisCommands, keys: readonly string[], args: readonly (string | number)[]) {
  return storeCall(() => redis.send(keys[0] ?? '', args), STORE_DOWN);
}
