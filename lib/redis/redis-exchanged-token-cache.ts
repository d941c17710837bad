import type { ExchangedToken, ExchangedTokenCache } from '../outbound/exchange-strategy.js';
import type { RedisCommands } from './redis-commands.js';
import { hashedKey } from './redis-keys.js';
import { decryptValue, encryptValue, type EncryptionKey } from './token-encryption.js';

/**
 * Tokens obtained by token exchange, shared by the instances so that each user's token is
 * exchanged once per upstream, not once per instance. They are credentials: encrypted like the
 * IdP tokens, and kept no longer than they are valid.
 */
export function redisExchangedTokenCache(
  redis: RedisCommands,
  prefix: string,
  keys: readonly EncryptionKey[],
): ExchangedTokenCache {
  const [writer] = keys;
  if (writer === undefined) throw new TypeError('at least one encryption key is needed');
  const readers = new Map(keys.map((key) => [key.id, key]));
  const keyOf = (cacheKey: string) => hashedKey(prefix, 'exchanged', cacheKey);
  return {
    async get(cacheKey) {
      const key = keyOf(cacheKey);
      const sealed = await redis.send(key, ['GET', key]);
      if (typeof sealed !== 'string') return undefined;
      try {
        return JSON.parse(decryptValue(sealed, key, readers)) as ExchangedToken;
      } catch {
        return undefined; // a miss: the token is exchanged again and overwritten
      }
    },
    async set(cacheKey, token) {
      if (token.expiresAtMs <= Date.now()) return;
      const key = keyOf(cacheKey);
      const sealed = encryptValue(JSON.stringify(token), key, writer);
      await redis.send(key, ['SET', key, sealed, 'PXAT', Math.ceil(token.expiresAtMs)]);
    },
  };
}
