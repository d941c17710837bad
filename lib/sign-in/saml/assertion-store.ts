/**
 * Assertion ids already used to sign in, remembered until the assertion expires: a response
 * captured from a browser, a proxy log or the IdP's redirect page cannot sign anyone in twice.
 * Several instances must share one (Redis `SET key 1 NX PXAT expiresAtMs` is the whole of it).
 */
export interface UsedAssertionStore {
  /**
   * Records the use of an assertion, atomically. Returns false when it was used before (a
   * replay). `expiresAtMs` is when the entry may be forgotten.
   */
  consume(id: string, expiresAtMs: number): boolean | Promise<boolean>;
}

/** Default: 100000 unexpired assertion ids in the memory store. */
export const DEFAULT_ASSERTION_STORE_MAX_ENTRIES = 100_000;

/**
 * A {@link UsedAssertionStore} in process memory, for one instance and for tests. When full of
 * unexpired ids it throws (the sign-in answers 503) rather than forget one.
 */
export function createMemoryAssertionStore(
  options: { maxEntries?: number; now?: () => number } = {},
): UsedAssertionStore {
  const maxEntries = options.maxEntries ?? DEFAULT_ASSERTION_STORE_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  const used = new Map<string, number>();
  return {
    consume(id, expiresAtMs) {
      const until = used.get(id);
      if (until !== undefined && until > now()) return false;
      if (used.size >= maxEntries) {
        for (const [key, expiry] of used) if (expiry <= now()) used.delete(key);
        if (used.size >= maxEntries) {
          throw new RangeError(`the memory assertion store holds ${maxEntries} unexpired ids`);
        }
      }
      used.set(id, expiresAtMs);
      return true;
    },
  };
}
