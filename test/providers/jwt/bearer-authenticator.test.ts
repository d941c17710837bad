// The framework-free entry point validates its own options, exactly as authenticate() does.
import { createBearerAuthenticator } from '../../../lib/index.js';
import { TEST_AUDIENCE, useTestIssuer } from '../../helpers/test-issuer.js';

const idp = useTestIssuer();
const good = () => ({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri });

describe('createBearerAuthenticator validates its options', () => {
  test.each([
    [
      { isuer: 'x' },
      /createBearerAuthenticator: unknown option "isuer" \(did you mean "issuer"\?\)/,
    ],
    [
      { issuer: 'https://idp.example.com/', audience: 'a', jwksUri: 'http://idp.example.com/jwks' },
      /option "jwksUri" must be an https:\/\/ URL/,
    ],
    [
      {
        issuers: [
          {
            issuer: 'https://idp.example.com/',
            audience: 'a',
            jwksUri: 'http://idp.example.com/jwks',
          },
        ],
      },
      /option "issuers.0.jwksUri" must be an https:\/\/ URL/,
    ],
    [
      {
        issuers: [
          {
            issuer: 'https://idp.example.com/',
            audience: 'a',
            jwksUri: 'https://idp.example.com/jwks',
            tokenCache: { maxAgeMs: 3_600_000 },
          },
        ],
      },
      /issuers.0: unknown option "tokenCache"/,
    ],
    [{ tokenCache: { maxAgeMs: 3_600_000 } }, /option "tokenCache.maxAgeMs"/],
    [{ issuers: [] }, /option "issuers"/],
  ])('%j is refused with a TypeError naming the option', (options, message) => {
    expect(() => createBearerAuthenticator(options as never)).toThrow(TypeError);
    expect(() => createBearerAuthenticator(options as never)).toThrow(message);
  });

  test('valid options build an authenticator that verifies a real token', async () => {
    const authenticator = createBearerAuthenticator(good());
    const authorization = `Bearer ${await idp.sign({ sub: 'alice' })}`;
    const identity = await authenticator.authenticate({
      headers: { authorization },
      authorization: [authorization],
      url: '/',
    });
    expect(identity?.subject).toBe('alice');
  });

  test('the caller keeps its options object as it was', () => {
    const options = Object.freeze({ ...good(), issuers: undefined });
    expect(() => createBearerAuthenticator(options)).not.toThrow();
  });
});

describe('refusals carry what was compared, for the audit event', () => {
  async function refusal(claims: Record<string, unknown>) {
    const authorization = `Bearer ${await idp.sign(claims)}`;
    try {
      await createBearerAuthenticator(good()).authenticate({
        headers: { authorization },
        authorization: [authorization],
        url: '/',
      });
    } catch (error) {
      return error as { code: string; details?: Record<string, unknown> };
    }
    throw new Error('the token was accepted');
  }

  test('an expired token: its exp and how long ago by this server clock', async () => {
    const exp = Math.floor(Date.now() / 1000) - 7200;
    const error = await refusal({ sub: 'alice', exp });
    expect(error.code).toBe('token_expired');
    expect(error.details).toMatchObject({ claim: 'exp', exp });
    expect(error.details?.['expired_sec_ago']).toBeGreaterThanOrEqual(7199);
    expect(error.details?.['expired_sec_ago']).toBeLessThan(7300);
  });

  test('a token for another API: the audience expected and the one carried', async () => {
    const error = await refusal({ sub: 'alice', aud: ['api://other', 'x'.repeat(500)] });
    expect(error.code).toBe('token_audience_invalid');
    expect(error.details).toMatchObject({
      claim: 'aud',
      expected: [TEST_AUDIENCE],
      carried: ['api://other', 'x'.repeat(200)],
    });
  });
});
