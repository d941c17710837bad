import {
  accountName,
  clientName,
  createSignInThrottle,
  DEFAULT_MAX_FAILURES_PER_ACCOUNT,
  type SignInThrottle,
} from '../../lib/core/sign-in-throttle.js';

const MINUTE = 60 * 1000;

/** How many failed attempts in a row for `account` the throttle lets through now (at most 100). */
function allowed(throttle: SignInThrottle, account: string): number {
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
