import { hkdfSync } from 'node:crypto';
import type { SignInThrottle, SignInThrottleOptions } from '../core/sign-in-throttle.js';
import { parseOptions } from '../core/options.js';
import type { McpSessionStore } from '../mcp/session-binding.js';
import type { ExchangedTokenCache } from '../outbound/exchange-strategy.js';
import type { UsedAssertionStore } from '../sign-in/saml/assertion-store.js';
import type { RequestIdStore } from '../sign-in/saml/request-id-store.js';
import type { OidcTokenStore } from '../sign-in/oidc/oidc-token-store.js';
import type { SessionStore } from '../tokens/session-store.js';
import { redisCommands } from './redis-commands.js';
import { redisExchangedTokenCache } from './redis-exchanged-token-cache.js';
import { redisMcpSessionStore } from './redis-mcp-session-store.js';
import { redisOidcTokenStore } from './redis-oidc-token-store.js';
import { redisStoresSchema, type RedisStoresOptions } from './redis-options.js';
import { redisAssertionStore, redisRequestIdStore } from './redis-saml-stores.js';
import { redisSessionStore } from './redis-session-store.js';
import { redisSignInThrottle } from './redis-sign-in-throttle.js';
import { createRevocationCache } from './revocation-cache.js';

/** Every store of the package, shared by all instances through one Redis. */
export interface RedisStores {
  /** Sign-outs and used refresh tokens: `createSessionTokens({ store })`. */
  readonly sessions: SessionStore;
  /** Used SAML assertions: `createSamlSignIn({ assertionStore })`. */
  readonly samlAssertions: UsedAssertionStore;
  /** SAML request ids awaiting their response: `createSamlSignIn({ requestStore })`. */
  readonly samlRequests: RequestIdStore;
  /** Users' IdP tokens, encrypted: `createOidcSignIn({ tokenStore })`. Needs `encryptionKeys`. */
  readonly oidcTokens: OidcTokenStore;
  /** Tokens from token exchange, encrypted: `exchangeStrategy({ cache })`. Needs `encryptionKeys`. */
  readonly exchangedTokens: ExchangedTokenCache;
  /** Which user opened each MCP session: `protectMcp({ sessions })`. */
  readonly mcpSessions: McpSessionStore;
  /** The sign-in throttle, counted across instances: `sessionRoutes({ throttle })`. */
  signInThrottle(options?: SignInThrottleOptions): SignInThrottle;
}

/** Default: 1000 ms for Redis to answer a command. */
const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;

/**
 * The package's stores on Redis (or Valkey), from the application's own client. Ids are stored
 * as hashes, IdP tokens encrypted, every entry expires when it is no longer useful, and what
 * must be atomic is one command or script. When Redis cannot answer, what needs it answers 503
 * (never a 401, never "not revoked"), and it recovers when Redis does.
 *
 * @example
 * ```ts
 * const redis = await createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true }).connect();
 * const stores = createRedisStores({ client: redis, encryptionKeys: [{ id: 'k1', key: process.env.TOKEN_KEY }] });
 * const tokens = createSessionTokens({ ..., store: stores.sessions });
 * ```
 */
export function createRedisStores(options: RedisStoresOptions): RedisStores {
  const parsed = parseOptions(redisStoresSchema(), options, 'createRedisStores');
  const prefix = parsed.prefix ?? 'eip:';
  const redis = redisCommands(parsed.client, parsed.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
  const cacheMs = parsed.revocationCacheMs ?? 0;
  const keys = (parsed.encryptionKeys ?? []).map(({ id, key }) => ({
    id,
    key: typeof key === 'string' ? Buffer.from(key, 'base64') : key,
  }));
  const encrypted = <T>(build: () => T, name: string): (() => T) => {
    const store = keys.length === 0 ? undefined : build();
    return () => {
      if (store === undefined) {
        throw new TypeError(
          `createRedisStores: option "encryptionKeys" is needed for ${name}: they are stored encrypted`,
        );
      }
      return store;
    };
  };
  const oidcTokens = encrypted(() => redisOidcTokenStore(redis, prefix, keys), 'oidcTokens');
  const exchanged = encrypted(
    () => redisExchangedTokenCache(redis, prefix, keys),
    'exchangedTokens',
  );
  const cache = cacheMs > 0 ? createRevocationCache(cacheMs) : undefined;
  const nameSecret = nameSecretOf(parsed.nameHashSecret, keys[0]?.key);
  return Object.freeze({
    sessions: redisSessionStore(redis, prefix, cache),
    samlAssertions: redisAssertionStore(redis, prefix),
    samlRequests: redisRequestIdStore(redis, prefix, (parsed.samlRequestTtlSec ?? 600) * 1000),
    get oidcTokens(): OidcTokenStore {
      return oidcTokens();
    },
    get exchangedTokens(): ExchangedTokenCache {
      return exchanged();
    },
    mcpSessions: redisMcpSessionStore(redis, prefix),
    signInThrottle(throttleOptions?: SignInThrottleOptions) {
      // Names and addresses hashed without a secret are reversed by a list of candidates.
      if (nameSecret === undefined) {
        throw new TypeError(
          'createRedisStores: option "nameHashSecret" (or "encryptionKeys") is needed for signInThrottle: account names and client addresses are stored as HMACs',
        );
      }
      return redisSignInThrottle(redis, prefix, nameSecret, throttleOptions);
    },
  });
}

// The secret of the throttle's keys: the one given, or one derived from the first encryption
// key (HKDF, so the encryption key itself is never used for anything else).
function nameSecretOf(
  given: string | Buffer | undefined,
  encryptionKey: Buffer | undefined,
): Buffer | undefined {
  if (given !== undefined) return typeof given === 'string' ? Buffer.from(given, 'base64') : given;
  if (encryptionKey === undefined) return undefined;
  return Buffer.from(hkdfSync('sha256', encryptionKey, '', 'eip redis name keys', 32));
}
