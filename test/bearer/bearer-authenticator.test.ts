// The framework-free entry point validates its own options, exactly as authenticate() does.
import { createBearerAuthenticator } from '../../lib/index.js';
import { TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';

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

describe('an email its issuer marks unverified', () => {
  async function identityOf(claims: Record<string, unknown>) {
    const authorization = `Bearer ${await idp.sign(claims)}`;
    return createBearerAuthenticator({ ...good(), preset: 'auth0' }).authenticate({
      headers: { authorization },
      authorization: [authorization],
      url: '/',
    });
  }

  test('is neither the email nor (through the preset) the username', async () => {
    const identity = await identityOf({
      sub: 'auth0|mallory',
      email: 'alice@corp.example',
      email_verified: false,
    });
    expect(identity?.email).toBeUndefined();
    expect(identity?.username).toBe('auth0|mallory');
    expect(identity?.attributes).toMatchObject({ unverified_email: 'alice@corp.example' });
  });

  test('verified, or without the claim (as access tokens mostly are), it is the email', async () => {
    const verified = await identityOf({ sub: 's1', email: 'a@x.test', email_verified: true });
    expect(verified).toMatchObject({ email: 'a@x.test', username: 'a@x.test' });
    expect(verified?.attributes).toEqual({});
    expect((await identityOf({ sub: 's2', email: 'b@x.test' }))?.email).toBe('b@x.test');
  });
});

test('an unverified email is not the username under another claim either', async () => {
  const authorization = `Bearer ${await idp.sign({
    sub: 'kc-mallory',
    preferred_username: 'CEO@corp.example',
    email: 'ceo@corp.example',
    email_verified: false,
  })}`;
  const identity = await createBearerAuthenticator({ ...good(), preset: 'keycloak' }).authenticate({
    headers: { authorization },
    authorization: [authorization],
    url: '/',
  });
  expect(identity).toMatchObject({ username: 'kc-mallory', subject: 'kc-mallory' });
  expect(identity?.email).toBeUndefined();
});
