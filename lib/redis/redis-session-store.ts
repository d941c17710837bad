import type { SessionStore } from '../tokens/session-store.js';
import type { RedisCommands } from './redis-commands.js';
import { hashedKey } from './redis-keys.js';
import type { RevocationCache } from './revocation-cache.js';

// Keeps the later of two expiries: a session revoked again (a replayed refresh token after a
// sign-out) stays revoked for as long as either says. One script, so no reader sees it missing.
const REVOKE_UNTIL_LATER = `
local current = redis.call('PEXPIRETIME', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1])
end
return 1`;

/**
 * Sign-outs and used refresh tokens in Redis, shared by every instance. A sign-out is kept until
 * every token of its session has expired; a refresh token's single use until it has expired.
 */
export function redisSessionStore(
  redis: RedisCommands,
  prefix: string,
  cache: RevocationCache | undefined,
): SessionStore {
  const revokedKey = (sessionId: string) => hashedKey(prefix, 'revoked', sessionId);
  return {
    async revokeSession(sessionId, untilSec) {
      const key = revokedKey(sessionId);
      await redis.send(key, ['EVAL', REVOKE_UNTIL_LATER, 1, key, Math.ceil(untilSec * 1000)]);
      cache?.revoked(sessionId);
    },
    isSessionRevoked(sessionId) {
      const known = cache?.lookup(sessionId);
      if (known !== undefined) return known;
      const key = revokedKey(sessionId);
      return redis.send(key, ['EXISTS', key]).then((answer) => {
        const revoked = Number(answer) === 1;
        if (!revoked) cache?.notRevoked(sessionId);
        return revoked;
      });
    },
    async consumeRefreshToken(tokenId, untilSec) {
      const key = hashedKey(prefix, 'refresh-used', tokenId);
      const answer = await redis.send(key, [
        'SET',
        key,
        '1',
        'PXAT',
        Math.ceil(untilSec * 1000),
        'NX',
      ]);
      return answer === 'OK';
    },
  };
}
