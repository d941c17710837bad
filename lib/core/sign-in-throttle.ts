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
  /**
   * Default: 10000 each of names, accounts and clients tracked; the least recently seen are
   * forgotten.
   */
  maxEntries?: number;
  now?: () => number;
}

/** Counts failed sign-ins and refuses further attempts with 429 before the directory locks out. */
export interface SignInThrottle {
  /**
   * Starts an attempt: throws `too_many_attempts` (with `Retry-After`) when the name typed or the
   * client is blocked, otherwise counts the attempt as a failure until it is settled. Counting
   * first means concurrent attempts cannot all slip under the limit together. A throttle shared
   * by several instances (Redis) answers with a promise, and a store it cannot reach is
   * `session_store_unavailable` (503): guesses are never let through uncounted.
   */
  attempt(account: string, client: string | undefined): SignInAttempt | Promise<SignInAttempt>;
}

/** One sign-in attempt, counted as failed unless settled otherwise. */
export interface SignInAttempt {
  /**
   * The name typed belongs to this account: a stable key such as a directory entry's objectGUID
   * or entryUUID, compared exactly. Throws `too_many_attempts` when the account is blocked,
   * whichever of its names the failures came under; otherwise the attempt counts against the
   * account too, until settled. Call it before the password is checked: a directory locks the
   * account, not the name, so `jsmith` and `john.smith@company.com` must share one allowance.
   * A refusal here leaves the attempt unsettled; settle it `uncounted()`, as the guess never
   * reached the directory.
   */
  resolvedTo(accountKey: string): void | Promise<void>;
  /** The password was right: the counts of the name and of the account are cleared. */
  succeeded(): void | Promise<void>;
  /**
   * Not the user's guess (the directory was down, the request malformed, the password right but
   * the account unusable): uncounted.
   */
  uncounted(): void | Promise<void>;
}

/** The in-memory throttle answers at once: nothing to await. */
export interface LocalSignInThrottle extends SignInThrottle {
  attempt(account: string, client: string | undefined): LocalSignInAttempt;
}

/** An attempt of the in-memory throttle. */
export interface LocalSignInAttempt extends SignInAttempt {
  resolvedTo(accountKey: string): void;
  succeeded(): void;
  uncounted(): void;
}

interface Window {
  failures: number;
  resetsAt: number;
}

/** One kind of thing counted (names typed, accounts, client addresses), in its own memory. */
interface Tally {
  readonly windows: LRUCache<string, Window>;
  readonly limit: number;
  readonly scope: 'account' | 'client';
  /** Whether each failure restarts the window (accounts), or it ends after the first (clients). */
  readonly sliding: boolean;
  readonly windowMs: number;
  readonly now: () => number;
}

/** A failure an attempt counted, to be cleared or given back when the attempt is settled. */
interface Counted {
  readonly tally: Tally;
  readonly key: string;
  readonly window: Window;
}

/**
 * A failure counter per account and per client address. It answers 429 before the directory's
 * own lockout triggers, so that a guesser cannot lock a colleague out of Windows by failing
 * against the assistant. Bounded in memory; one instance's view only (several instances each
 * count separately, so N instances let N times the allowance reach the directory: lower
 * `maxFailuresPerAccount` accordingly, or share a throttle).
 *
 * An account is counted twice over: by the name typed, folded by {@link accountName} (checked
 * before the directory is asked anything), and by the account the directory resolved that name
 * to ({@link SignInAttempt.resolvedTo}), which is what the directory's lockout counts. Without
 * the second, each name a directory accepts for one person (`jsmith`, `john.smith@company.com`,
 * the mail address) would bring its own allowance. An authenticator that cannot resolve the
 * account before the password is checked is throttled by the name typed alone. The two are kept
 * apart in memory, so that a flood of made-up names cannot evict the counts of real accounts.
 *
 * An account's count ends only after `windowMs` without a failure, not `windowMs` after the
 * first: a fixed window lets the allowance through twice in quick succession across its edge
 * (four guesses just before it resets, four just after), and the directory, whose count has not
 * reset, locks the account. Failures the directory saw from elsewhere (a typo at the Windows
 * logon) also count towards its threshold; the throttle cannot see those.
 */
export function createSignInThrottle(options: SignInThrottleOptions = {}): LocalSignInThrottle {
  const perAccount = options.maxFailuresPerAccount ?? DEFAULT_MAX_FAILURES_PER_ACCOUNT;
  const tally = (limit: number, scope: Tally['scope']): Tally => ({
    windows: new LRUCache<string, Window>({ max: options.maxEntries ?? 10_000 }),
    limit,
    scope,
    // AD resets its count after a quiet interval, OpenLDAP forgets each failure after one:
    // counting until a quiet interval is never more lenient than either. A client's window
    // stays fixed: a busy NAT with the odd typo must not be blocked for good.
    sliding: scope === 'account',
    windowMs: options.windowMs ?? DEFAULT_FAILURE_WINDOW_MS,
    now: options.now ?? Date.now,
  });
  const names = tally(perAccount, 'account');
  const accounts = tally(perAccount, 'account');
  const clients = tally(options.maxFailuresPerClient ?? DEFAULT_MAX_FAILURES_PER_CLIENT, 'client');

  return {
    attempt(account, client) {
      const keys: [Tally, string][] = [[names, accountName(account)]];
      if (client !== undefined) keys.push([clients, clientName(client)]);
      for (const [counter, key] of keys) refuseIfBlocked(counter, key);
      const counted = keys.map(([counter, key]) => count(counter, key));
      let settled = false;
      return {
        resolvedTo(accountKey) {
          if (typeof accountKey !== 'string' || accountKey.length === 0) {
            throw new TypeError('resolvedTo(accountKey): expected a non-empty string');
          }
          if (settled || counted.some((c) => c.tally === accounts && c.key === accountKey)) return;
          refuseIfBlocked(accounts, accountKey);
          counted.push(count(accounts, accountKey));
        },
        succeeded() {
          if (settled) return;
          settled = true;
          // The directory forgets an account's failures when its password is right; a client's
          // other failures (other accounts) still stand.
          for (const item of counted) {
            if (item.tally === clients) undo(item);
            else item.tally.windows.delete(item.key);
          }
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

function current({ windows, now }: Tally, key: string): Window | undefined {
  const window = windows.get(key);
  if (window === undefined || window.resetsAt <= now()) return undefined;
  return window;
}

function refuseIfBlocked(tally: Tally, key: string): void {
  const window = current(tally, key);
  if (window === undefined || window.failures < tally.limit) return;
  throw new IdentityError(
    'too_many_attempts',
    'Too many failed sign-in attempts; wait before trying again, or contact your administrator if you have forgotten your password.',
    { retryAfterSec: (window.resetsAt - tally.now()) / 1000, details: { scope: tally.scope } },
  );
}

function count(tally: Tally, key: string): Counted {
  let window = current(tally, key);
  if (window === undefined) {
    window = { failures: 0, resetsAt: tally.now() + tally.windowMs };
    tally.windows.set(key, window);
  } else if (tally.sliding) {
    window.resetsAt = tally.now() + tally.windowMs;
  }
  window.failures += 1;
  return { tally, key, window };
}

function undo({ window }: Counted): void {
  window.failures = Math.max(0, window.failures - 1);
}

/**
 * The account a sign-in name points at, as far as can be told without the directory: `alice`,
 * `ALICE`, `alice@company.com` and `COMPANY\alice` count as one name, so that each spelling
 * does not get its own allowance of guesses. Two people who share a local part on different
 * domains share a count, which only makes the throttle stricter. Names the directory links and
 * the text does not (`jsmith` and `john.smith@company.com`) count as one account only once the
 * authenticator resolves them ({@link SignInAttempt.resolvedTo}).
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
