import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { isRedisClient, type RedisClientLike } from './redis-commands.js';

const encryptionKey = lazySchema((z) =>
  z.strictObject({
    /** A name for the key, stored with each value it encrypts (rotation: add a new key first). */
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/u, 'must be 1-64 letters, digits, "-" or "_"'),
    /** 32 random bytes: a Buffer, or their base64 text (`openssl rand -base64 32`). */
    key: z.union([
      z.instanceof(Buffer).refine((key) => key.length === 32, 'must be 32 bytes'),
      z
        .string()
        .refine((key) => Buffer.from(key, 'base64').length === 32, 'must be 32 bytes in base64'),
    ]),
  }),
);

export const redisStoresSchema = lazySchema((z) =>
  z.strictObject({
    /** The application's client: node-redis (client, cluster, sentinel) or ioredis. */
    client: z.custom<RedisClientLike>(isRedisClient, {
      message: 'must be a node-redis or ioredis client (createClient(), new Redis())',
    }),
    /** Prefix of every key. Default: `eip:`. */
    prefix: z.string().min(1).max(100).optional(),
    /** A command not answered by then fails (503), rather than wait in a queue. Default: 1000. */
    commandTimeoutMs: z.number().int().min(10).max(60_000).optional(),
    /**
     * Keys that encrypt users' IdP tokens (AES-256-GCM): the first encrypts, every one decrypts.
     * Required for `oidcTokens`.
     */
    encryptionKeys: z.array(encryptionKey()).min(1).max(10).optional(),
    /**
     * A secret (32 bytes or more, a Buffer or base64) for the keys of guessable names: the
     * throttle's account names and client addresses are stored as HMACs with it, so that a dump
     * of Redis cannot be matched against a list of names. Default: derived from the first of
     * `encryptionKeys`; without either, plain SHA-256.
     */
    nameHashSecret: z
      .union([
        z.instanceof(Buffer).refine((key) => key.length >= 32, 'must be at least 32 bytes'),
        z
          .string()
          .refine(
            (key) => Buffer.from(key, 'base64').length >= 32,
            'must be at least 32 bytes in base64',
          ),
      ])
      .optional(),
    /**
     * Default: 0 (off). How long this instance may remember that a session is not signed out.
     * **Trade-off:** a sign-out through another instance takes up to this long to be seen here.
     */
    revocationCacheMs: z.number().int().min(0).max(5_000).optional(),
    /** How long a SAML sign-in may take at the IdP (its request id is kept). Default: 600. */
    samlRequestTtlSec: z.number().int().min(60).max(3_600).optional(),
  }),
);

export type RedisStoresOptions = z.input<ReturnType<typeof redisStoresSchema>>;
export type ParsedRedisStoresOptions = z.output<ReturnType<typeof redisStoresSchema>>;
