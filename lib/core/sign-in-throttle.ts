import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { IdentityError } from './errors.js';

/**
 * Default: 4 failed sign-ins per account, then 429 until 15 minutes pass without another. Safe
 * for a directory that locks at 5 or more failures (threshold > this default) counted over at
 * most 15 minutes: 5 is a common baseline (CIS benchmarks allow 5 or fewer), and letting a fifth
 * guess through would be the one that locks the person out.
 */
export const DEFAULT_MAX_FAILURES_PER_ACCOUNT = 4;
/** Default: 20 failed sign-ins per client address per window (password spraying). */
export const DEFAULT_MAX_FAILURES_PER_CLIENT = 20;
/**
 * Default: 900000 (15 minutes). An account's failures are forgotten only after this long without
 * a new one; a client's, this long after its first. Keep it at least as long as the directory's
 * own failure-counting interval (AD: "Reset account lockout counter after"; OpenLDAP:
 * `pwdFailureCountInterval`), or guesses spread over several windows add up there.
 */
export const DEFAULT_FAILURE_WINDOW_MS = 15 * 60 * 1000;

export interface SignInThrottleOptions {
  /** Default: 4. Keep it below the directory's lockout threshold. */
  maxFailuresPerAccount?: number;
  maxFailuresPerClient?: number;
  windowMs?: number;
  /** Default: 10000 accounts and clients tracked; the least recently seen are forgotten. */
  maxEntries?: number;
  now?: () => number;
}

/** Counts failed sign-ins and refuses further attempts with 429 before the directory locks out. */
export interface SignInThrottle {
  /**
   * Starts an attempt: throws `too_many_attempts` (with `Retry-After`) when the account or the
   * client is blocked, otherwise counts the attempt as a failure until it is settled. Counting
   * first means concurrent attempts cannot all slip under the limit together.
   */
  attempt(account: string, client: string | undefined): SignInAttempt;
}

/** One sign-in attempt, counted as failed unless settled otherwise. */
export interface SignInAttempt {
  /** The password was right: the account's count is cleared. */
  succeeded(): void;
  /** Not the user's guess (the directory was down, the request malformed): uncounted. */
  uncounted(): void;
}

interface Window {
  failures: number;
  resetsAt: number;
}

/**
 * A failure counter per account and per client address. It answers 429 before the directory's
 * own lockout triggers, so that a guesser cannot lock a colleague out of Windows by failing
 * against the assistant. Bounded in memory; one instance's view only (several instances each
 * count separately, so N instances let N times the allowance reach the directory: lower
 * `maxFailuresPerAccount` accordingly, or share a throttle).
 *
 * An account's count ends only after `windowMs` without a failure, not `windowMs` after the
 * first: a fixed window lets the allowance through twice in quick succession across its edge
 * (four guesses just before it resets, four just after), and the directory, whose count has not
 * reset, locks the account. Failures the directory saw from elsewhere (a typo at the Windows
 * logon) also count towards its threshold; the throttle cannot see those.
 */
export function createSignInThrottle(options: SignInThrottleOptions = {}): SignInThrottle {
  const perAccount = options.maxFailuresPerAccount ?? DEFAULT_MAX_FAILURES_PER_ACCOUNT;
  const perClient = options.maxFailuresPerClient ?? DEFAULT_MAX_FAILURES_PER_CLIENT;
  const windowMs = options.windowMs ?? DEFAULT_FAILURE_WINDOW_MS;
  const now = options.now ?? Date.now;
  // Accounts and clients are tracked apart, so that a flood of one cannot evict the other.
  const accounts = new LRUCache<string, Window>({ max: options.maxEntries ?? 10_000 });
  const clients = new LRUCache<string, Window>({ max: options.maxEntries ?? 10_000 });
  const cacheFor = (key: string): LRUCache<string, Window> =>
    key.startsWith('a:') ? accounts : clients;
  const accountKey = (account: string): string => `a:${accountName(account)}`;
  const clientKey = (client: string): string => `c:${clientName(client)}`;

  function current(key: string): Window | undefined {
    const window = cacheFor(key).get(key);
    if (window === undefined || window.resetsAt <= now()) return undefined;
    return window;
  }

  function refuseIfBlocked(key: string, limit: number, scope: 'account' | 'client'): void {
    const window = current(key);
    if (window === undefined || window.failures < limit) return;
    throw new IdentityError(
      'too_many_attempts',
      'Too many failed sign-in attempts; wait before trying again, or contact your administrator if you have forgotten your password.',
      { retryAfterSec: (window.resetsAt - now()) / 1000, details: { scope } },
    );
  }

  function count(key: string): Window {
    let window = current(key);
    if (window === undefined) {
      window = { failures: 0, resetsAt: now() + windowMs };
      cacheFor(key).set(key, window);
    } else if (key.startsWith('a:')) {
      // AD resets its count after a quiet interval, OpenLDAP forgets each failure after one:
      // counting until a quiet interval is never more lenient than either. A client's window
      // stays fixed: a busy NAT with the odd typo must not be blocked for good.
      window.resetsAt = now() + windowMs;
    }
    window.failures += 1;
    return window;
  }

  return {
    attempt(account, client) {
      const keys = [accountKey(account), ...(client === undefined ? [] : [clientKey(client)])];
      refuseIfBlocked(keys[0] as string, perAccount, 'account');
      if (keys[1] !== undefined) refuseIfBlocked(keys[1], perClient, 'client');
      const counted = keys.map(count);
      let settled = false;
      const undo = (window: Window | undefined): void => {
        if (window !== undefined) window.failures = Math.max(0, window.failures - 1);
      };
      return {
        succeeded() {
          if (settled) return;
          settled = true;
          accounts.delete(keys[0] as string);
          undo(counted[1]);
        },
        uncounted() {
          if (settled) return;
          settled = true;
          counted.forEach(undo);
        },
      };
    },
  };
}

/**
 * The account a sign-in name points at, as far as can be told without the directory: `alice`,
 * `ALICE`, `alice@company.com` and `COMPANY\alice` count as one account, so that each spelling
 * does not get its own allowance of guesses. Two people who share a local part on different
 * domains share a count, which only makes the throttle stricter.
 */
export function accountName(account: string): string {
  const name = account.normalize('NFKC').toLowerCase();
  const afterDomain = name.slice(name.lastIndexOf('\\') + 1);
  const at = afterDomain.indexOf('@');
  return at > 0 ? afterDomain.slice(0, at) : afterDomain;
}

/**
 * The client a request comes from, for counting: an IPv4 address (also when mapped into IPv6),
 * or the /64 network of an IPv6 address, because one subscriber is routed a whole /64 and could
 * otherwise change addresses at every guess. `req.ip` is the socket's peer unless Express's
 * `trust proxy` is set; behind a proxy, set it, or every client counts as the proxy.
 */
export function clientName(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1] ?? address;
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.padStart(4, '0'))
    .join(':')}::/64`;
}
