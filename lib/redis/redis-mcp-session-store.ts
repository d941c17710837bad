import type { McpSessionStore } from '../mcp/session-binding.js';
import type { RedisCommands } from './redis-commands.js';

/** Which user opened each MCP session; its keys are already hashes of the session ids. */
export function redisMcpSessionStore(redis: RedisCommands, prefix: string): McpSessionStore {
  const keyOf = (sessionKey: string) => `${prefix}mcp-session:${sessionKey}`;
  return {
    async bind(sessionKey, owner, ttlSec) {
      const key = keyOf(sessionKey);
      await redis.send(key, ['SET', key, owner, 'EX', ttlSec]);
    },
    async ownerOf(sessionKey, ttlSec) {
      const key = keyOf(sessionKey);
      // GETEX: read and extend in one step, so an idle session's clock restarts with each use.
      const owner = await redis.send(key, ['GETEX', key, 'EX', ttlSec]);
      return typeof owner === 'string' ? owner : undefined;
    },
    async forget(sessionKey) {
      const key = keyOf(sessionKey);
      await redis.send(key, ['DEL', key]);
    },
  };
}
