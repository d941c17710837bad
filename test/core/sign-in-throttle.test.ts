import {
  accountName,
  clientName,
  createSignInThrottle,
  DEFAULT_MAX_FAILURES_PER_ACCOUNT,
  type LocalSignInThrottle,
} from '../../lib/core/sign-in-throttle.js';

const MINUTE = 60 * 1000;

/** How many failed attempts in a row for `account` the throttle lets through now (at most 100). */
function allowed(throttle: LocalSignInThrottle, account: string): number {
  for (let count = 0; count < 100; count++) {
    try {
      throttle.attempt(account, undefined);
    } catch {
      return count;
    }
  }
  return 100;
}

describe('accountName', () => {
  test.each([
    ['alice', 'alice'],
    ['ALICE', 'alice'],
    ['alice@example.com', 'alice'],
    ['EXAMPLE\\alice', 'alice'],
    ['ａｌｉｃｅ', 'alice'],
    ['@odd', '@odd'],
  ])('%j counts as %j', (input, expected) => {
    expect(accountName(input)).toBe(expected);
  });
});

describe('createSignInThrottle', () => {
  test('every spelling of one account shares its allowance', () => {
    let time = 0;
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 3, now: () => time });
    for (const spelling of ['alice', 'Alice@example.com', 'EXAMPLE\\alice']) {
      throttle.attempt(spelling, '10.0.0.1');
    }
    expect(() => throttle.attempt('ALICE', '10.0.0.2')).toThrow(
      expect.objectContaining({ code: 'too_many_attempts', status: 429 }),
    );
    // Another account is not affected; the window ends.
    expect(() => throttle.attempt('bob', '10.0.0.1')).not.toThrow();
    time += 15 * 60 * 1000;
    expect(() => throttle.attempt('alice', '10.0.0.1')).not.toThrow();
  });

  test('Retry-After counts down to the end of the window', () => {
    let time = 0;
    const throttle = createSignInThrottle({
      maxFailuresPerAccount: 1,
      windowMs: 60_000,
      now: () => time,
    });
    throttle.attempt('alice', undefined);
    time += 20_000;
    try {
      throttle.attempt('alice', undefined);
      throw new Error('not throttled');
    } catch (error) {
      expect((error as { headers: Record<string, string> }).headers['Retry-After']).toBe('40');
    }
  });

  test('a success clears the account; an uncounted attempt gives its allowance back', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 2 });
    throttle.attempt('alice', 'c');
    throttle.attempt('alice', 'c').succeeded();
    throttle.attempt('alice', 'c').uncounted();
    throttle.attempt('alice', 'c');
    throttle.attempt('alice', 'c');
    expect(() => throttle.attempt('alice', 'c')).toThrow(
      expect.objectContaining({ code: 'too_many_attempts' }),
    );
  });
});

describe('SignInAttempt.resolvedTo: counting the account, not the name typed', () => {
  // One person, three names a directory search matches: sAMAccountName, UPN, mail. accountName()
  // cannot fold them together; only the directory knows they are one account.
  const NAMES = ['jsmith', 'john.smith@corp.example', 'johnny@mail.corp.example'];
  const GUID = '5f0c5a4e-1b2c-4d3e-8f90-a1b2c3d4e5f6';

  /** One failed sign-in under `name`: the status the client would get. */
  function fail(throttle: LocalSignInThrottle, name: string, key: string | undefined): 401 | 429 {
    try {
      const attempt = throttle.attempt(name, '10.0.0.1');
      try {
        if (key !== undefined) attempt.resolvedTo(key);
      } catch (error) {
        attempt.uncounted();
        throw error;
      }
      return 401;
    } catch (error) {
      expect(error).toMatchObject({ code: 'too_many_attempts', status: 429 });
      return 429;
    }
  }

  test('control: without resolvedTo, each name has its own allowance (8 guesses reach a directory that locks at 5)', () => {
    const throttle = createSignInThrottle();
    const statuses = Array.from({ length: 10 }, (_, i) =>
      fail(throttle, NAMES[i % 2] as string, undefined),
    );
    expect(statuses.filter((status) => status === 401)).toHaveLength(8);
  });

  test('every name resolved to one account shares its allowance of 4', () => {
    const throttle = createSignInThrottle();
    const statuses = Array.from({ length: 9 }, (_, i) =>
      fail(throttle, NAMES[i % NAMES.length] as string, GUID),
    );
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429]);
  });

  test("the account's refusal names the scope and counts down Retry-After from its last failure", () => {
    let time = 0;
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 2, now: () => time });
    fail(throttle, 'jsmith', GUID);
    time += 5 * MINUTE;
    fail(throttle, 'john.smith@corp.example', GUID);
    time += 1 * MINUTE;
    // A fresh name passes the name check and is refused once it is known to be the account.
    const attempt = throttle.attempt('johnny@mail.corp.example', undefined);
    expect(() => attempt.resolvedTo(GUID)).toThrow(
      expect.objectContaining({
        code: 'too_many_attempts',
        details: { scope: 'account' },
        headers: expect.objectContaining({ 'Retry-After': String(14 * 60) }) as unknown,
      }),
    );
  });

  test('a refusal by the account gives back what the attempt counted against the name and the client', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 2, maxFailuresPerClient: 3 });
    fail(throttle, 'jsmith', GUID);
    fail(throttle, 'john.smith@corp.example', GUID);
    for (let i = 0; i < 5; i++) expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(429);
    // The client has two failures, not seven: a third (another account) is still allowed.
    expect(fail(throttle, 'someone-else', 'another-guid')).toBe(401);
    expect(fail(throttle, 'someone-else', 'another-guid')).toBe(429);
  });

  test('concurrent attempts under different names: only the allowance reaches the directory', () => {
    const throttle = createSignInThrottle();
    // All six start, and resolve, before any settles: the account is counted as each resolves.
    const attempts = Array.from({ length: 6 }, (_, i) =>
      throttle.attempt(NAMES[i % NAMES.length] as string, undefined),
    );
    const passed = attempts.filter((attempt) => {
      try {
        attempt.resolvedTo(GUID);
        return true;
      } catch {
        attempt.uncounted();
        return false;
      }
    });
    expect(passed).toHaveLength(4);
  });

  test('a success clears the account and the name it used; other names keep their own count', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 3 });
    fail(throttle, 'jsmith', GUID);
    fail(throttle, 'jsmith', GUID);
    const success = throttle.attempt('john.smith@corp.example', undefined);
    success.resolvedTo(GUID);
    success.succeeded();
    // `jsmith` still has its two failures (stricter than the directory, never more lenient)...
    expect(fail(throttle, 'jsmith', GUID)).toBe(401);
    expect(fail(throttle, 'jsmith', GUID)).toBe(429);
    // ...while the account's count started again: one failure so far, two more fit.
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(401);
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(401);
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(429);
  });

  test('uncounted() gives back the account count too; succeeded() clears it', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 2 });
    const outage = throttle.attempt('jsmith', undefined);
    outage.resolvedTo(GUID);
    outage.uncounted();
    fail(throttle, 'jsmith', GUID);
    const success = throttle.attempt('john.smith@corp.example', undefined);
    success.resolvedTo(GUID);
    success.succeeded();
    // The count was cleared: two more failures fit before the limit.
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(401);
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(401);
    expect(fail(throttle, 'jsmith', GUID)).toBe(429);
  });

  test('the same key twice in one attempt counts once; after settling, resolvedTo does nothing', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 2 });
    const attempt = throttle.attempt('jsmith', undefined);
    attempt.resolvedTo(GUID);
    attempt.resolvedTo(GUID);
    const settled = throttle.attempt('john.smith@corp.example', undefined);
    settled.uncounted();
    settled.resolvedTo(GUID);
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(401);
    expect(fail(throttle, 'johnny@mail.corp.example', GUID)).toBe(429);
  });

  test('account keys are compared exactly and apart from names: a name cannot spend an account key', () => {
    const throttle = createSignInThrottle({ maxFailuresPerAccount: 1 });
    // Typed as a name, the key counts only as that name.
    fail(throttle, GUID, undefined);
    expect(fail(throttle, 'jsmith', GUID)).toBe(401);
    expect(fail(throttle, 'jsmith2', GUID.toUpperCase())).toBe(401);
  });

  test('a flood of made-up names cannot evict the count of a real account', () => {
    const throttle = createSignInThrottle({ maxEntries: 10 });
    for (let i = 0; i < 4; i++) fail(throttle, NAMES[i % NAMES.length] as string, GUID);
    // From many clients (no client limit applies): names only, the directory finds no one.
    for (let i = 0; i < 50; i++) throttle.attempt(`nobody-${i}`, undefined);
    const attempt = throttle.attempt('jsmith', undefined);
    expect(() => attempt.resolvedTo(GUID)).toThrow(
      expect.objectContaining({ code: 'too_many_attempts', details: { scope: 'account' } }),
    );
  });

  test('an empty or non-string key is a programming error (TypeError), not a pass', () => {
    const attempt = createSignInThrottle().attempt('jsmith', undefined);
    expect(() => attempt.resolvedTo('')).toThrow(
      new TypeError('resolvedTo(accountKey): expected a non-empty string'),
    );
    expect(() => attempt.resolvedTo(undefined as unknown as string)).toThrow(TypeError);
  });
});

describe('the default account limit', () => {
  // A directory that locks at 5 failures (a common baseline) must never see a fifth from us.
  const DIRECTORY_THRESHOLD = 5;

  test('is 4: below a directory lockout threshold of 5', () => {
    expect(DEFAULT_MAX_FAILURES_PER_ACCOUNT).toBe(4);
    expect(allowed(createSignInThrottle(), 'alice')).toBe(DIRECTORY_THRESHOLD - 1);
  });

  test('the count ends 15 minutes after the last failure, not the first', () => {
    let time = 0;
    const throttle = createSignInThrottle({ now: () => time });
    throttle.attempt('alice', undefined);
    time += 14 * MINUTE;
    expect(allowed(throttle, 'alice')).toBe(3);
    // 16 minutes after the first failure, 2 after the last: a fixed window would start again
    // here and let four more through, eight within minutes for the directory to count.
    time += 2 * MINUTE;
    expect(allowed(throttle, 'alice')).toBe(0);
    time += 13 * MINUTE;
    expect(allowed(throttle, 'alice')).toBe(DIRECTORY_THRESHOLD - 1);
  });

  test('over any span, no more failures reach the directory than the limit before a quiet 15 minutes', () => {
    let time = 0;
    const throttle = createSignInThrottle({ now: () => time });
    let sinceQuiet = 0;
    let last = -Infinity;
    // One guess a minute for three hours: the directory never sees 5 within 15 quiet-free minutes.
    for (let minute = 0; minute < 180; minute++) {
      time = minute * MINUTE;
      try {
        throttle.attempt('alice', undefined);
        sinceQuiet = time - last >= 15 * MINUTE ? 1 : sinceQuiet + 1;
        last = time;
      } catch {
        // refused: never reached the directory
      }
      expect(sinceQuiet).toBeLessThan(DIRECTORY_THRESHOLD);
    }
  });

  test("a client's window stays fixed: it ends 15 minutes after its first failure", () => {
    let time = 0;
    const throttle = createSignInThrottle({ maxFailuresPerClient: 2, now: () => time });
    throttle.attempt('a1', '10.0.0.1');
    time += 10 * MINUTE;
    throttle.attempt('a2', '10.0.0.1');
    expect(() => throttle.attempt('a3', '10.0.0.1')).toThrow(
      expect.objectContaining({ details: { scope: 'client' } }),
    );
    time += 5 * MINUTE;
    expect(() => throttle.attempt('a3', '10.0.0.1')).not.toThrow();
  });
});

describe('clientName', () => {
  test.each([
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:0db8:0001:0002::/64'],
    ['2001:db8:1:2::99', '2001:0db8:0001:0002::/64'],
    ['2001:db8::1', '2001:0db8:0000:0000::/64'],
    ['::1', '0000:0000:0000:0000::/64'],
  ])('%s counts as %s', (input, expected) => {
    expect(clientName(input)).toBe(expected);
  });

  test('every address of one IPv6 /64 shares the client allowance', () => {
    const throttle = createSignInThrottle({ maxFailuresPerClient: 2 });
    throttle.attempt('a1', '2001:db8:1:2::1');
    throttle.attempt('a2', '2001:db8:1:2::2');
    expect(() => throttle.attempt('a3', '2001:db8:1:2:ffff::3')).toThrow(
      expect.objectContaining({ code: 'too_many_attempts', details: { scope: 'client' } }),
    );
    expect(() => throttle.attempt('a3', '2001:db8:1:3::3')).not.toThrow();
  });
});
