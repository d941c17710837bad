// What one entry of each in-memory cache costs: `node --expose-gc --import tsx cache-memory.ts`,
// on each Node measured, so that each measures its own object layout. Fills each cache with
// N entries shaped as in production and reports the heap growth per entry (after full
// collections), as one JSON line. The token cache's entry is measured with what it keeps
// alive: the identity and its credential (a 780-character token, as an RS256 access token).
import { randomBytes } from 'node:crypto';
import { createIdentity } from '../../lib/core/identity.js';
import { createSignInThrottle } from '../../lib/core/sign-in-throttle.js';
import { createVerifiedTokenCache, tokenDigest } from '../../lib/bearer/verified-token-cache.js';
import {
  createMemoryMcpSessionStore,
  newSessionId,
  sessionKeyOf,
} from '../../lib/mcp/session-binding.js';
import { createRevocationCache } from '../../lib/redis/revocation-cache.js';

const N = 10_000;
const { gc } = globalThis as { gc?: () => void };
if (gc === undefined) throw new Error('run with node --expose-gc');
const collect = gc;

// Keeps a value reachable until the measurement is over, whatever the optimizer sees.
const sinkhole: unknown[] = [];

function heap() {
  for (let i = 0; i < 3; i++) collect();
  return process.memoryUsage().heapUsed;
}

// Bytes per entry of `fill`, which returns what must stay reachable for the measurement.
function perEntry(fill: () => unknown): number {
  sinkhole.length = 0;
  const before = heap();
  const kept = keep(fill());
  const after = heap();
  if (kept === undefined) throw new Error('nothing kept');
  return Math.round((after - before) / N);
}

function keep(value: unknown): unknown {
  sinkhole.push(value);
  return value;
}

const token = (i: number): string => `${randomBytes(580).toString('base64url')}.${i}`;
const identityFor = (value: string, i: number) =>
  createIdentity(
    {
      subject: `user-${i}`,
      issuer: 'https://login.example.com/',
      provider: 'jwt',
      kind: 'user',
      username: `user${i}@example.com`,
      groups: [],
      roles: ['reader'],
      scopes: ['orders.read'],
      attributes: {},
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
      tokenDigest: tokenDigest(value),
    },
    { type: 'bearer', value, audience: ['api://orders'] },
  );

// A first fill, discarded: code compiled and heap grown once, so that what follows measures
// entries rather than the first use of each function.
perEntry(() => Array.from({ length: N }, (_, i) => identityFor(token(i), i)));

const results = {
  node: process.version,
  entries: N,
  tokenCacheEntryWithIdentity: perEntry(() => {
    const cache = createVerifiedTokenCache({ maxEntries: N, maxAgeMs: 30_000, now: Date.now });
    for (let i = 0; i < N; i++) {
      const value = token(i);
      cache.offer(value, tokenDigest(value), identityFor(value, i));
    }
    return cache;
  }),
  identityAlone: perEntry(() => {
    const list: unknown[] = [];
    for (let i = 0; i < N; i++) list.push(identityFor(token(i), i));
    return list;
  }),
  revocationCacheEntry: perEntry(() => {
    const cache = createRevocationCache(1_000, N);
    for (let i = 0; i < N; i++) cache.notRevoked(randomBytes(16).toString('base64url'));
    return cache;
  }),
  mcpSessionBinding: perEntry(() => {
    const store = createMemoryMcpSessionStore();
    for (let i = 0; i < N; i++) {
      store.bind(sessionKeyOf(newSessionId()), `https://login.example.com/|user-${i}`, 3600);
    }
    return store;
  }),
  signInThrottleEntry: perEntry(() => {
    const throttle = createSignInThrottle();
    for (let i = 0; i < N; i++) throttle.attempt(`user${i}`, `10.0.${i >> 8}.${i & 255}`);
    return throttle;
  }),
};
process.stdout.write(`${JSON.stringify(results)}\n`);
