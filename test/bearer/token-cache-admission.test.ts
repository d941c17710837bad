import { createIdentity, type Identity } from '../../lib/core/identity.js';
import {
  createVerifiedTokenCache,
  tokenDigest,
  type VerifiedTokenCache,
} from '../../lib/bearer/verified-token-cache.js';

// What the cache admits when it is full. A plain LRU that sees more distinct tokens than it
// holds, in a cycle, evicts each token just before it returns and never hits; these tests pin
// that this cache keeps most of its hits there, keeps a token in use against a stream of
// one-off tokens, and still lets a new token in once an entry stops being used.
const NOW = 1_700_000_000_000;

function identityFor(token: string): Identity {
  return createIdentity({
    subject: token,
    issuer: 'https://issuer.example/',
    provider: 'jwt',
    kind: 'user',
    username: token,
    groups: [],
    roles: [],
    scopes: [],
    attributes: {},
    expiresAt: NOW / 1000 + 3600,
  });
}

// The authenticator's protocol: a hit, or a verification whose identity is offered.
function request(cache: VerifiedTokenCache, token: string): boolean {
  if (cache.get(token) !== undefined) return true;
  cache.offer(token, tokenDigest(token), identityFor(token));
  return false;
}

function cacheOf(maxEntries: number, now = () => NOW): VerifiedTokenCache {
  return createVerifiedTokenCache({ maxEntries, maxAgeMs: 30_000, now });
}

const tokens = (count: number, prefix = 'token') =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}`);

test('more distinct tokens than it holds, in a cycle: most requests are still hits', () => {
  const cache = cacheOf(1_000);
  const cycle = tokens(1_200);
  let hits = 0;
  let requests = 0;
  for (let round = 0; round < 10; round++) {
    for (const token of cycle) {
      const hit = request(cache, token);
      // The first round fills the cache and cannot hit.
      if (round > 0) {
        requests += 1;
        if (hit) hits += 1;
      }
    }
  }
  // At best 1000 of 1200 (83%); a plain LRU gets 0 here.
  expect(hits / requests).toBeGreaterThan(0.6);
});

test('positive control: the same cycle within its size is all hits after the first round', () => {
  const cache = cacheOf(1_000);
  const cycle = tokens(900);
  for (const token of cycle) expect(request(cache, token)).toBe(false);
  for (const token of cycle) expect(request(cache, token)).toBe(true);
});

test('a token in use keeps its place against a stream of tokens sent once each', () => {
  const cache = cacheOf(100);
  const regulars = tokens(50, 'regular');
  for (const token of regulars) request(cache, token);
  for (let index = 0; index < 5_000; index++) {
    request(cache, `one-off-${index}`);
    // The regulars come back every hundred requests, as a conversation's messages do.
    if (index % 100 === 0) for (const token of regulars) request(cache, token);
  }
  expect(regulars.filter((token) => cache.get(token) !== undefined)).toHaveLength(50);
});

test('a new token gets in once it comes back and an entry has stopped being used', () => {
  const cache = cacheOf(10);
  const old = tokens(10, 'old');
  for (const token of old) request(cache, token);
  // Full. Sent once, a newcomer is only remembered; sent again, it replaces an unused entry.
  expect(request(cache, 'newcomer')).toBe(false);
  expect(cache.get('newcomer')).toBeUndefined();
  expect(request(cache, 'newcomer')).toBe(false);
  expect(cache.get('newcomer')).toBeDefined();
  expect(old.filter((token) => cache.get(token) !== undefined)).toHaveLength(9);
});

test('an entry that was used is spared, but not for ever: halved on each miss that wanted its place', () => {
  const cache = cacheOf(1);
  request(cache, 'busy');
  for (let i = 0; i < 3; i++) expect(request(cache, 'busy')).toBe(true); // used 3 times
  // Each newcomer is seen twice; 3 -> 1 -> 0: the third admission attempt takes the place.
  const outcomes = ['a', 'b', 'c'].map((token) => {
    request(cache, token);
    request(cache, token);
    return cache.get(token) !== undefined;
  });
  expect(outcomes).toEqual([false, false, true]);
  expect(cache.get('busy')).toBeUndefined();
});

test('expiry still holds for an entry that is in use, and frees its place', () => {
  let clock = NOW;
  const cache = cacheOf(1, () => clock);
  request(cache, 'first');
  expect(request(cache, 'first')).toBe(true);
  clock += 30_000;
  expect(cache.get('first')).toBeUndefined();
  // The place is free again: a new token is admitted at once.
  expect(request(cache, 'second')).toBe(false);
  expect(request(cache, 'second')).toBe(true);
});

test('an expired entry at the end of the queue gives its place without a second sighting being spared', () => {
  let clock = NOW;
  const cache = cacheOf(1, () => clock);
  request(cache, 'stale');
  for (let i = 0; i < 5; i++) request(cache, 'stale');
  clock += 30_000;
  request(cache, 'fresh');
  request(cache, 'fresh');
  expect(cache.get('fresh')).toBeDefined();
});

test('control: a plain LRU of the same size gets no hit at all on that cycle', async () => {
  const { LRUCache } = await import('lru-cache');
  const lru = new LRUCache<string, true>({ max: 1_000 });
  let hits = 0;
  for (let round = 0; round < 3; round++) {
    for (const token of tokens(1_200)) {
      if (lru.get(token) !== undefined) hits += 1;
      else lru.set(token, true);
    }
  }
  expect(hits).toBe(0);
});

test('once every entry has expired, a new token is admitted at its first sighting', () => {
  let clock = NOW;
  const cache = cacheOf(10, () => clock);
  for (const token of tokens(10, 'old')) request(cache, token);
  clock += 30_000;
  expect(request(cache, 'new')).toBe(false);
  expect(request(cache, 'new')).toBe(true);
  // Positive control: while they are fresh, a newcomer needs a second sighting.
  const fresh = cacheOf(10);
  for (const token of tokens(10, 'old')) request(fresh, token);
  request(fresh, 'new');
  expect(fresh.get('new')).toBeUndefined();
});
