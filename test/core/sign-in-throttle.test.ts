import { accountName, clientName, createSignInThrottle } from '../../lib/core/sign-in-throttle.js';

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
