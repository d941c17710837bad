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
