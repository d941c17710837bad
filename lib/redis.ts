// The Redis entry: every store the package keeps (sign-outs, used refresh tokens and SAML
// assertions, SAML request ids, users' IdP tokens, MCP sessions, the sign-in throttle) shared by
// all instances of an application through one Redis or Valkey.

export { createRedisStores } from './redis/redis-stores.js';
export type { RedisStores } from './redis/redis-stores.js';
export type { RedisStoresOptions } from './redis/redis-options.js';
export type { RedisClientLike } from './redis/redis-commands.js';
