import { randomUUID } from 'node:crypto';
import type { IdpTokens, OidcTokenStore } from '../sign-in/oidc/oidc-token-store.js';
import type { RedisCommands } from './redis-commands.js';
import { hashedKey } from './redis-keys.js';
import { decryptValue, encryptValue, type EncryptionKey } from './token-encryption.js';

// Deletes the lock only if it is still ours: one that expired and was taken by another instance
// must not be released by the slow holder.
const RELEASE_IF_OURS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Users' IdP tokens in Redis, encrypted (the first key writes, every key reads), kept until the
 * session ends; and a lock so that one instance at a time refreshes a session's tokens.
 */
export function redisOidcTokenStore(
  redis: RedisCommands,
  prefix: string,
  keys: readonly EncryptionKey[],
): OidcTokenStore {
  const [writer] = keys;
  if (writer === undefined) throw new TypeError('at least one encryption key is needed');
  const readers = new Map(keys.map((key) => [key.id, key]));
  const keyOf = (sessionId: string) => hashedKey(prefix, 'oidc-tokens', sessionId);
  return {
    async get(sessionId) {
      const key = keyOf(sessionId);
      const sealed = await redis.send(key, ['GET', key]);
      if (typeof sealed !== 'string') return undefined;
      try {
        return JSON.parse(decryptValue(sealed, key, readers)) as IdpTokens;
      } catch {
        // Altered, or written with a key no longer configured: the tokens are gone for good,
        // so the session's IdP sign-in is over (sign in again), rather than an outage forever.
        await redis.send(key, ['DEL', key]);
        return undefined;
      }
    },
    async set(sessionId, tokens) {
      const key = keyOf(sessionId);
      if (tokens.sessionEndsAtMs <= Date.now()) {
        await redis.send(key, ['DEL', key]);
        return;
      }
      const sealed = encryptValue(JSON.stringify(tokens), key, writer);
      await redis.send(key, ['SET', key, sealed, 'PXAT', Math.ceil(tokens.sessionEndsAtMs)]);
    },
    async delete(sessionId) {
      const key = keyOf(sessionId);
      await redis.send(key, ['DEL', key]);
    },
    async lock(sessionId, ttlMs) {
      const key = hashedKey(prefix, 'oidc-refresh-lock', sessionId);
      const token = randomUUID();
      const taken = await redis.send(key, ['SET', key, token, 'PX', ttlMs, 'NX']);
      if (taken !== 'OK') return undefined;
      return async () => {
        await redis.send(key, ['EVAL', RELEASE_IF_OURS, 1, key, token]);
      };
    },
  };
}
