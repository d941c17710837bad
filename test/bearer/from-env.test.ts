import { generateKeyPairSync } from 'node:crypto';
import { authenticate, createMemoryAuditSink, fromEnv } from '../../lib/index.js';

const jwks = {
  JWT_ISSUER: 'https://login.example.com/tenant/v2.0',
  JWT_AUDIENCE: 'api://orders',
  OAUTH_JWKS_URL: 'https://login.example.com/tenant/discovery/v2.0/keys',
};

describe('fromEnv', () => {
  test('reads the variable names a gateway .env already has', () => {
    expect(fromEnv({ ...jwks, DF_JWT_USER_CLAIM: 'email' })).toEqual({
      issuer: jwks.JWT_ISSUER,
      audience: 'api://orders',
      jwksUri: jwks.OAUTH_JWKS_URL,
      userClaim: 'email',
    });
  });

  test('reads the IDENTITY_* variables, and the result is accepted by authenticate()', () => {
    const options = fromEnv({
      JWT_ISSUER: 'https://idp.example.com/',
      JWT_AUDIENCE: 'api://a, api://b',
      JWT_SECRET: 's'.repeat(40),
      IDENTITY_ALGORITHMS: 'HS256',
      IDENTITY_CLOCK_TOLERANCE_SEC: '10',
      IDENTITY_MAX_TOKEN_AGE_SEC: '3600',
      IDENTITY_REQUIRE_AT_JWT: 'true',
      IDENTITY_CLAIM_PRESET: 'keycloak',
      IDENTITY_MAPPING:
        '{"claim_mapping":{"groups":"roles"},"role_mapping":{"Sales-Team":"sales_readonly"}}',
      IDENTITY_SERVICE_ACCOUNT_DENY: 'ai-service-account, svc-*',
    });
    expect(options).toMatchObject({
      audience: ['api://a', 'api://b'],
      algorithms: ['HS256'],
      clockToleranceSec: 10,
      maxTokenAgeSec: 3600,
      requireAccessTokenType: true,
      preset: 'keycloak',
      mapping: {
        claim_mapping: { groups: 'roles' },
        role_mapping: { 'Sales-Team': 'sales_readonly' },
      },
      serviceAccounts: { denyPatterns: ['ai-service-account', 'svc-*'] },
    });
    expect(() => authenticate({ ...options, audit: createMemoryAuditSink() })).not.toThrow();
  });

  test('a PEM with escaped newlines (as .env files hold it) is restored', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const options = fromEnv({
      JWT_ISSUER: 'i',
      JWT_AUDIENCE: 'a',
      IDENTITY_PUBLIC_KEY: pem.trim().replaceAll('\n', '\\n'),
    });
    expect(options.publicKey).toBe(pem.trim());
  });

  test.each([
    [{ JWT_AUDIENCE: 'a', JWT_SECRET: 's'.repeat(40) }, /^JWT_ISSUER is not set/],
    [{ JWT_ISSUER: 'i', JWT_SECRET: 's'.repeat(40) }, /^JWT_AUDIENCE is not set/],
    [
      { JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' },
      /none of JWT_SECRET, OAUTH_JWKS_URL or IDENTITY_PUBLIC_KEY is set/,
    ],
    [{ ...jwks, JWT_SECRET: 's'.repeat(40) }, /^JWT_SECRET and OAUTH_JWKS_URL are both set/],
    [
      { JWT_ISSUER: 'i', JWT_AUDIENCE: 'a', JWT_SECRET: 'short' },
      /^JWT_SECRET is too short for HS256/,
    ],
    [
      { ...jwks, OAUTH_JWKS_URL: 'http://login.example.com/keys' },
      /^OAUTH_JWKS_URL must be an https:\/\/ URL/,
    ],
    [
      { ...jwks, IDENTITY_CLOCK_TOLERANCE_SEC: '30s' },
      /^IDENTITY_CLOCK_TOLERANCE_SEC must be a whole number/,
    ],
    [{ ...jwks, IDENTITY_CLOCK_TOLERANCE_SEC: '100000' }, /^IDENTITY_CLOCK_TOLERANCE_SEC/],
    [
      { ...jwks, IDENTITY_REQUIRE_AT_JWT: 'maybe' },
      /^IDENTITY_REQUIRE_AT_JWT must be true or false/,
    ],
    [{ ...jwks, IDENTITY_ALGORITHMS: 'RS256,none' }, /^IDENTITY_ALGORITHMS lists none/],
    [
      { ...jwks, IDENTITY_CLAIM_PRESET: 'azure' },
      /^IDENTITY_CLAIM_PRESET must be one of generic, entra, okta, auth0, keycloak/,
    ],
    [{ ...jwks, IDENTITY_MAPPING: '{claim_mapping:' }, /^IDENTITY_MAPPING is not valid JSON/],
    [{ ...jwks, IDENTITY_MAPPING: '{"claims":{}}' }, /^IDENTITY_MAPPING at ""/],
    [
      { ...jwks, IDENTITY_MAPPING: '{"role_mapping":{"a":5}}' },
      /^IDENTITY_MAPPING at "role_mapping.a"/,
    ],
    // Checked by the authenticator itself, and still reported by the variable's name.
    [
      { ...jwks, OAUTH_JWKS_URL: undefined, IDENTITY_PUBLIC_KEY: 'not a key' },
      /^IDENTITY_PUBLIC_KEY \(option "publicKey"\): not a PEM public key/,
    ],
    [
      {
        JWT_ISSUER: 'i',
        JWT_AUDIENCE: 'a',
        JWT_SECRET: 's'.repeat(40),
        IDENTITY_ALGORITHMS: 'ES256',
      },
      /^IDENTITY_ALGORITHMS \(option "algorithms"\): ES256 cannot be verified/,
    ],
    [
      { ...jwks, IDENTITY_ALGORITHMS: 'HS256' },
      /^IDENTITY_ALGORITHMS \(option "algorithms"\): HS256 cannot be verified with keys from "jwksUri"/,
    ],
    [
      { ...jwks, IDENTITY_MAPPING: '{"claim_mapping":{"oid":"subject"}}' },
      /^IDENTITY_MAPPING at "claim_mapping.oid".*field_claims/,
    ],
  ])('%j fails naming the variable', (env, message) => {
    expect(() => fromEnv(env)).toThrow(message);
  });

  test('blank variables count as unset', () => {
    expect(() => fromEnv({ ...jwks, JWT_SECRET: '   ' })).not.toThrow();
  });
});
