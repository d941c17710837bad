import type { CacheItem } from '@node-saml/node-saml';
import type { UsedAssertionStore } from '../sign-in/saml/assertion-store.js';
import type { RequestIdStore } from '../sign-in/saml/request-id-store.js';
import type { RedisCommands } from './redis-commands.js';
import { hashedKey } from './redis-keys.js';

/**
 * Used SAML assertions: `SET NX` with the assertion's own expiry, so that a response replayed to
 * any instance, while it could still be accepted, is refused.
 */
export function redisAssertionStore(redis: RedisCommands, prefix: string): UsedAssertionStore {
  return {
    async consume(id, expiresAtMs) {
      const key = hashedKey(prefix, 'saml-assertion', id);
      // At least a second: an assertion already past its expiry is refused by its checks anyway.
      const until = Math.max(Math.ceil(expiresAtMs), Date.now() + 1_000);
      return (await redis.send(key, ['SET', key, '1', 'PXAT', until, 'NX'])) === 'OK';
    },
  };
}

/**
 * The ids of sign-in requests sent to the IdP (node-saml's `CacheProvider`), so that a response
 * reaching another instance than the request left from is still tied to its request.
 */
export function redisRequestIdStore(
  redis: RedisCommands,
  prefix: string,
  ttlMs: number,
): RequestIdStore {
  const keyOf = (id: string) => hashedKey(prefix, 'saml-request', id);
  return {
    async saveAsync(id: string, value: string): Promise<CacheItem | null> {
      const key = keyOf(id);
      const saved = await redis.send(key, ['SET', key, value, 'PX', ttlMs, 'NX']);
      return saved === 'OK' ? { value, createdAt: Date.now() } : null;
    },
    async getAsync(id: string): Promise<string | null> {
      const key = keyOf(id);
      const value = await redis.send(key, ['GET', key]);
      return typeof value === 'string' ? value : null;
    },
    async removeAsync(id: string | null): Promise<string | null> {
      if (id === null) return null;
      const key = keyOf(id);
      return Number(await redis.send(key, ['DEL', key])) === 1 ? id : null;
    },
  };
}
