import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type jwksRsa from 'jwks-rsa';
import type { JWSHeaderParameters } from 'jose';
import { LRUCache } from 'lru-cache';
import { readBoundedText } from '../core/bounded-body.js';
import { jwksFetchChannel, traceJwksFetch } from '../core/diagnostics.js';
import { IdentityError } from '../core/errors.js';
import { algorithmsToUse, keyWeakness, type JwsAlgorithm } from './algorithms.js';
import type { KeySource, ResolvedKey } from './key-source.js';

/** Default: 600000 (10 minutes) before a cached key is fetched again. */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 600_000;
/** Default: 900000 (15 minutes) of serving cached keys while the JWKS endpoint is down. */
export const DEFAULT_JWKS_STALE_IF_ERROR_MS = 900_000;
/** Default: 10 fetches a minute at most for `kid`s never seen before. */
export const DEFAULT_JWKS_REQUESTS_PER_MINUTE = 10;
/** Default: 5000 (5 seconds) for one JWKS fetch. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** A JWKS document larger than this is refused (Entra ID's is about 10 KiB). */
export const MAX_JWKS_BYTES = 512 * 1024;

export interface JwksKeySourceOptions {
  jwksUri: string;
  cacheMaxAgeMs: number;
  staleIfErrorMs: number;
  requestsPerMinute: number;
  timeoutMs: number;
  algorithms: readonly JwsAlgorithm[] | undefined;
  fetch: typeof globalThis.fetch;
  now: () => number;
}

type SigningKey = jwksRsa.SigningKey & { alg?: string };

const requireHere = createRequire(import.meta.url);
let jwksRsaModule: typeof jwksRsa | undefined;

// Required with the first JWKS key source rather than when the package is imported: loading
// jwks-rsa takes about as long as loading Express, and applications with static keys or
// session tokens only never need it.
function loadJwksRsa(): typeof jwksRsa {
  jwksRsaModule ??= requireHere('jwks-rsa') as typeof jwksRsa;
  return jwksRsaModule;
}

/**
 * Keys from a JWKS endpoint through `jwks-rsa`: a per-`kid` cache, stale keys served while the
 * endpoint is briefly down, and a budget on fetches for `kid`s never seen before (so a flood of
 * made-up `kid`s can neither hammer the identity provider nor starve real keys).
 */
export function jwksKeySource(options: JwksKeySourceOptions): KeySource {
  return new JwksKeySource(options);
}

class JwksKeySource implements KeySource {
  readonly #options: JwksKeySourceOptions;
  readonly #client: jwksRsa.JwksClient;
  // The document the last fetch returned answers lookups of the other kids it holds for half
  // the cache age: warm() and a cold start then cost one fetch, not one per kid. A kid missing
  // from it still goes to the endpoint, so a rotated-in key is seen at once.
  #recent: Listing | undefined;
  // Kids that verified before. Their refreshes are bounded by the cache age, one per kid.
  readonly #seen = new LRUCache<string, true>({ max: 64 });
  // Which key the endpoint last listed under each kid, and when; and the keys resolved since
  // ('' for tokens without a kid). A key is answered at once, without jwks-rsa's callback chain,
  // until cacheMaxAgeMs after the last document that listed that very key under that kid: a key
  // the endpoint stopped publishing, or replaced under the same kid, is used no longer than
  // that. Past it, the lookup goes through jwks-rsa again (a refetch, or its stale copy while
  // the endpoint is down).
  readonly #listed = new LRUCache<string, { key: KeyObject; at: number }>({ max: 256 });
  readonly #fresh = new LRUCache<string, { resolved: ResolvedKey; until: number }>({ max: 64 });
  // A token without a `kid` is verified only when the last document the endpoint returned holds
  // exactly one signing key, so the answer follows the document, never which lookup happened to
  // run first (RFC 7515 makes `kid` optional; with several keys, picking one would be a guess).
  // Concurrent kid-less tokens share one listing.
  #kidlessLookup: Promise<void> | undefined;
  readonly #unknownKidBudget: { take(): boolean };
  readonly #converted = new WeakMap<object, ResolvedKey>();
  // Concurrent requests for one kid share one lookup: a cold start with fifty requests in
  // flight costs one fetch and one unit of the budget, not fifty.
  readonly #inflight = new Map<string, Promise<SigningKey>>();

  constructor(options: JwksKeySourceOptions) {
    this.#options = options;
    this.#unknownKidBudget = fixedWindowBudget(options.requestsPerMinute, 60_000, options.now);
    this.#client = new (loadJwksRsa().JwksClient)({
      jwksUri: options.jwksUri,
      cache: true,
      cacheMaxAge: options.cacheMaxAgeMs,
      cacheMaxEntries: 64,
      cacheMaxAgeFallback: options.staleIfErrorMs,
      // jwks-rsa's own limiter counts every fetch alike, so a flood of unknown kids would also
      // block the refresh of known ones; the budget above limits only never-seen kids.
      rateLimit: false,
      fetcher: async (uri) => {
        // Traced only while someone listens: no closure or message per fetch otherwise.
        const document = jwksFetchChannel.hasSubscribers
          ? await traceJwksFetch(uri, () => fetchJwks(uri, options))
          : await fetchJwks(uri, options);
        const at = options.now();
        this.#recent = { keys: document.keys as jwksRsa.JSONWebKey[], at };
        this.#recordListing(this.#recent.keys, at);
        return document;
      },
      getKeysInterceptor: () =>
        Promise.resolve(
          this.#recent !== undefined && options.now() - this.#recent.at < options.cacheMaxAgeMs / 2
            ? this.#recent.keys
            : [],
        ),
    });
  }

  resolve(header: JWSHeaderParameters): ResolvedKey | Promise<ResolvedKey> {
    if (header.kid === undefined) return this.#keyWithoutKid();
    const kid = header.kid;
    const known = this.#fresh.get(kid);
    if (known !== undefined && this.#options.now() < known.until) return known.resolved;
    return this.#lookup(kid).then((signingKey) => {
      const resolved = this.#toResolved(signingKey);
      const listing = this.#listed.get(kid);
      const until =
        listing !== undefined &&
        !(resolved.key instanceof Uint8Array) &&
        listing.key.equals(resolved.key)
          ? listing.at + this.#options.cacheMaxAgeMs
          : 0;
      if (until > this.#options.now()) this.#fresh.set(kid, { resolved, until });
      return resolved;
    });
  }

  async warm(): Promise<void> {
    try {
      await this.#client.getSigningKeys();
    } catch (cause) {
      throw new IdentityError(
        'identity_provider_unavailable',
        `The JWKS endpoint ${this.#options.jwksUri} could not be loaded at startup.`,
        { cause, details: { jwks_uri: this.#options.jwksUri } },
      );
    }
  }

  #recordListing(keys: readonly jwksRsa.JSONWebKey[], at: number): void {
    for (const jwk of keys) {
      const key = typeof jwk.kid === 'string' ? publicKeyOf(jwk) : undefined;
      if (key !== undefined) this.#listed.set(jwk.kid, { key, at });
    }
  }

  #inRecentDocument(kid: string): boolean {
    const recent = this.#recent;
    return (
      recent !== undefined &&
      this.#options.now() - recent.at < this.#options.cacheMaxAgeMs / 2 &&
      recent.keys.some((key) => key.kid === kid)
    );
  }

  #lookup(kid: string): Promise<SigningKey> {
    const pending = this.#inflight.get(kid);
    if (pending !== undefined) return pending;
    if (!this.#seen.has(kid) && !this.#inRecentDocument(kid) && !this.#unknownKidBudget.take()) {
      return Promise.reject(refetchLimited(kid));
    }
    const started = this.#fetchKey(kid).finally(() => this.#inflight.delete(kid));
    this.#inflight.set(kid, started);
    return started;
  }

  async #fetchKey(kid: string): Promise<SigningKey> {
    try {
      const key = await this.#client.getSigningKey(kid);
      this.#seen.set(kid, true);
      return key;
    } catch (error) {
      if ((error as { name?: string }).name === 'SigningKeyNotFoundError') {
        // The endpoint answered without this key: unknown, or rotated out and no longer valid.
        this.#seen.delete(kid);
        throw unknownKid(kid, error);
      }
      throw this.#unavailable(error);
    }
  }

  #unavailable(cause: unknown): IdentityError {
    return new IdentityError(
      'identity_provider_unavailable',
      'The identity provider could not be reached to check the token signature; retry shortly.',
      { cause, details: { jwks_uri: this.#options.jwksUri } },
    );
  }

  #toResolved(signingKey: SigningKey): ResolvedKey {
    const cached = this.#converted.get(signingKey);
    if (cached !== undefined) return cached;
    // jwks-rsa types `alg` as always present; it is there only when the JWK named one.
    const resolved = this.#resolvedKey(createPublicKey(signingKey.getPublicKey()), signingKey.alg);
    this.#converted.set(signingKey, resolved);
    return resolved;
  }

  #resolvedKey(key: KeyObject, named: unknown): ResolvedKey {
    const algorithms =
      keyWeakness(key) === undefined
        ? algorithmsToUse(
            key,
            typeof named === 'string' ? named : undefined,
            this.#options.algorithms,
          )
        : [];
    return Object.freeze({ key, algorithms: Object.freeze(algorithms) });
  }

  #keyWithoutKid(): ResolvedKey | Promise<ResolvedKey> {
    const known = this.#fresh.get('');
    const now = this.#options.now();
    if (known !== undefined && now < known.until) return known.resolved;
    const listing = this.#recent;
    if (listing !== undefined && now - listing.at < this.#options.cacheMaxAgeMs) {
      return this.#onlyKey(listing);
    }
    if (this.#kidlessLookup === undefined) {
      // Every refresh on behalf of kid-less tokens spends the unknown-kid budget: a flood of
      // them during an outage (when no refresh updates the listing) costs a few fetches a
      // minute, not one each. Between refreshes the last listing decides while it is not stale.
      if (!this.#unknownKidBudget.take()) {
        if (this.#isStale(listing)) throw refetchLimited(undefined);
        return this.#onlyKey(listing);
      }
      this.#kidlessLookup = this.#listKeys(listing).finally(() => {
        this.#kidlessLookup = undefined;
      });
    }
    return this.#kidlessLookup.then(() => this.#onlyKey(this.#recent));
  }

  #isStale(listing: Listing | undefined): boolean {
    return (
      listing === undefined ||
      this.#options.now() - listing.at >= this.#options.cacheMaxAgeMs + this.#options.staleIfErrorMs
    );
  }

  // A failed refresh keeps deciding on the last listing within the stale window, as jwks-rsa
  // does for keys with a kid; past it the outage is reported.
  async #listKeys(previous: Listing | undefined): Promise<void> {
    try {
      await this.#client.getSigningKeys();
    } catch (error) {
      if (this.#isStale(previous)) throw this.#unavailable(error);
    }
  }

  #onlyKey(listing: Listing | undefined): ResolvedKey {
    const keys = (listing?.keys ?? []).filter((jwk) => jwk.use === undefined || jwk.use === 'sig');
    const only = keys.length === 1 ? keys[0] : undefined;
    const key = only === undefined ? undefined : publicKeyOf(only);
    if (key === undefined) {
      throw new IdentityError(
        'token_key_unknown',
        `The token names no key ("kid") and the identity provider publishes ${keys.length} keys, so it cannot be checked. Tokens must carry the "kid" of their signing key.`,
        { details: { kid: null, reason: 'kid_missing', published_keys: keys.length } },
      );
    }
    const resolved = this.#resolvedKey(key, only?.alg);
    this.#fresh.set('', { resolved, until: (listing?.at ?? 0) + this.#options.cacheMaxAgeMs });
    return resolved;
  }
}

/** A JWKS document as fetched, and when. */
interface Listing {
  readonly keys: jwksRsa.JSONWebKey[];
  readonly at: number;
}

// The key a JWK describes, or undefined for one Node cannot read (an x5c-only entry, say): such
// a key is simply not answered from the per-kid cache.
function publicKeyOf(jwk: jwksRsa.JSONWebKey): KeyObject | undefined {
  try {
    return createPublicKey({ key: { ...jwk }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function refetchLimited(kid: string | undefined): IdentityError {
  return new IdentityError(
    'identity_provider_unavailable',
    'The token was signed with a key this server has not seen, and it cannot look the key up right now; retry shortly.',
    { details: { reason: 'jwks_refetch_limited', kid: kid ?? null } },
  );
}

function unknownKid(kid: string | undefined, cause: unknown): IdentityError {
  return new IdentityError(
    'token_key_unknown',
    'The token was signed with a key the identity provider does not publish (unknown "kid"). Check that the token comes from the configured issuer and JWKS URL.',
    { cause, details: { kid: kid ?? null } },
  );
}

// jwks-rsa's own request has no size limit and follows its own timeout; this fetcher bounds
// both, refuses redirects (a JWKS URL is configured exactly), and uses the injected fetch.
async function fetchJwks(
  uri: string,
  options: Pick<JwksKeySourceOptions, 'fetch' | 'timeoutMs'>,
): Promise<{ keys: unknown[] }> {
  const response = await options.fetch(uri, {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  if (!response.ok) {
    await response.body?.cancel();
    // The code names the failure for monitoring (see fetchErrorCode) without the text.
    throw Object.assign(new Error(`JWKS endpoint answered HTTP ${response.status}`), {
      code: `http_${response.status}`,
    });
  }
  const document: unknown = JSON.parse(await readBoundedText(response, MAX_JWKS_BYTES));
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) {
    throw Object.assign(new Error('JWKS document has no "keys" array'), {
      code: 'invalid_document',
    });
  }
  return { keys };
}

/**
 * At most `limit` takes per window. Hand-written because it is five lines and must count only
 * the lookups of unknown kids, which no limiter wrapped around jwks-rsa can tell apart.
 */
function fixedWindowBudget(limit: number, windowMs: number, now: () => number) {
  let windowStart = now();
  let used = 0;
  return {
    take(): boolean {
      if (now() - windowStart >= windowMs) {
        windowStart = now();
        used = 0;
      }
      used += 1;
      return used <= limit;
    },
  };
}
