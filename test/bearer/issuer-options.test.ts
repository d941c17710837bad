import { generateKeyPairSync, randomBytes } from 'node:crypto';
import express from 'express';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  authenticate,
  createMemoryAuditSink,
  type AuthenticateOptions,
  type Identity,
} from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

const ISSUER = 'https://idp.example.com/';
const base = { issuer: ISSUER, audience: TEST_AUDIENCE, audit: createMemoryAuditSink() };

async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Record<string, unknown> = {},
  typ = 'JWT',
) {
  return new SignJWT({ sub: 'user-1', preferred_username: 'uma', ...claims })
    .setProtectedHeader({ alg, typ })
    .setIssuer(ISSUER)
    .setAudience(TEST_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

async function get(options: AuthenticateOptions, token: string) {
  const agent = await serve(buildApp(express, { ...base, ...options }));
  return agent.get('/me').set('Authorization', `Bearer ${token}`);
}

afterAll(closeServers);

describe('static keys', () => {
  test('an HS256 secret of 32+ bytes verifies; HS384 needs 48', async () => {
    const secret = randomBytes(32).toString('base64url').slice(0, 40);
    const key = new TextEncoder().encode(secret);
    expect((await get({ ...base, secret }, await sign(key, 'HS256'))).status).toBe(200);
    expectRefusal(await get({ ...base, secret }, await sign(key, 'HS384')), {
      status: 401,
      code: 'token_algorithm_refused',
      bearerError: 'invalid_token',
    });
  });

  test('a secret shorter than 32 bytes stops the app at startup', () => {
    expect(() => authenticate({ ...base, secret: 'x'.repeat(31) })).toThrow(
      /option "secret": an HS256 secret needs at least 32 bytes \(got 31\)/,
    );
  });

  test.each([
    ['RS256', {}, undefined],
    ['PS256', {}, ['PS256']],
    ['ES256', {}, undefined],
    ['EdDSA', { crv: 'Ed25519' }, undefined],
  ] as const)(
    'a %s public key verifies, as PEM and as JWK',
    async (alg, keyOptions, algorithms) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, keyOptions);
      const token = await sign(privateKey, alg);
      const pem = await exportSPKI(publicKey);
      const named = algorithms === undefined ? {} : { algorithms: [...algorithms] };
      expect((await get({ ...base, ...named, publicKey: pem }, token)).status).toBe(200);
      expect(
        (
          await get(
            { ...base, ...named, publicKey: { ...(await exportJWK(publicKey)) } as never },
            token,
          )
        ).status,
      ).toBe(200);
    },
  );

  test.each(['PS256', 'RS384', 'RS512', 'PS512'] as const)(
    'an RSA key that names no algorithm verifies RS256 only (RFC 8725 §3.1): %s is refused',
    async (alg) => {
      // A KeyObject, not a WebCrypto key: one RSA key that can sign every RSA algorithm.
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const privateKey = pair.privateKey as unknown as CryptoKey;
      const pem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const jwk = pair.publicKey.export({ format: 'jwk' });
      const other = await sign(privateKey, alg);
      for (const options of [{ publicKey: pem }, { jwks: { keys: [{ ...jwk, kid: 'k' }] } }]) {
        expectRefusal(await get({ ...base, ...options } as never, other), {
          status: 401,
          code: 'token_algorithm_refused',
          bearerError: 'invalid_token',
        });
        expect(
          (await get({ ...base, ...options } as never, await sign(privateKey, 'RS256'))).status,
        ).toBe(200);
      }
      // Naming the algorithm, in the options or on the key, is how a deployment opts in.
      expect((await get({ ...base, publicKey: pem, algorithms: [alg] }, other)).status).toBe(200);
      const withAlg = { jwks: { keys: [{ ...jwk, alg }] } };
      expect((await get({ ...base, ...withAlg } as never, other)).status).toBe(200);
    },
  );

  test('a private key where the public key belongs is refused at startup', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => authenticate({ ...base, publicKey: pem })).toThrow(
      /option "publicKey": a private key/,
    );
    const jwk = privateKey.export({ format: 'jwk' });
    expect(() => authenticate({ ...base, publicKey: jwk as never })).toThrow(/private JWK/);
    expect(() => authenticate({ ...base, publicKey: privateKey })).toThrow(/private key/);
  });

  test('an RSA key under 2048 bits is refused at startup', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => authenticate({ ...base, publicKey })).toThrow(/at least 2048 bits \(got 1024\)/);
  });

  test('algorithms the key cannot verify are a startup error; a narrowed list is enforced', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS384');
    const pem = await exportSPKI(publicKey);
    expect(() => authenticate({ ...base, publicKey: pem, algorithms: ['ES256'] })).toThrow(
      /ES256 cannot be verified with the key in "publicKey"/,
    );
    expectRefusal(
      await get(
        { ...base, publicKey: pem, algorithms: ['RS256'] },
        await sign(privateKey, 'RS384'),
      ),
      {
        status: 401,
        code: 'token_algorithm_refused',
        bearerError: 'invalid_token',
      },
    );
  });
});

describe('startup validation of authenticate() options', () => {
  const jwksUri = 'https://idp.example.com/jwks.json';
  test.each([
    [{ audience: 'a', jwksUri }, /option "issuer"/],
    [{ issuer: ISSUER, jwksUri }, /option "audience"/],
    [{ issuer: ISSUER, audience: [], jwksUri }, /option "audience"/],
    [
      { issuer: ISSUER, audience: 'a' },
      /option "jwksUri" is missing: give exactly one of "secret", "publicKey", "jwksUri" or "jwks"/,
    ],
    [{ issuer: ISSUER, audience: 'a', jwksUri, secret: 'x'.repeat(40) }, /conflicts with "secret"/],
    [
      { issuer: ISSUER, audience: 'a', jwksUri: 'http://idp.example.com/jwks' },
      /option "jwksUri" must be an https:\/\/ URL/,
    ],
    [
      { issuer: ISSUER, audiance: 'a', jwksUri },
      /unknown option "audiance" \(did you mean "audience"\?\)/,
    ],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, clockToleranceSec: -1 },
      /option "clockToleranceSec"/,
    ],
    [{ issuer: ISSUER, audience: 'a', jwksUri, preset: 'azure' }, /option "preset"/],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, mapping: { claims: {} } },
      /mapping: unknown option "claims"/,
    ],
    [
      { issuers: [{ issuer: ISSUER, audience: 'a', jwksUri, audiance: 'b' }] },
      /issuers\.0: unknown option "audiance" \(did you mean "audience"\?\)/,
    ],
    [
      { issuer: ISSUER, issuers: [{ issuer: ISSUER, audience: 'a', jwksUri }] },
      /option "issuer": with "issuers"/,
    ],
    [
      {
        issuers: [
          { issuer: ISSUER, audience: 'a', jwksUri },
          { issuer: ISSUER, audience: 'b', jwksUri },
        ],
      },
      /the issuer "https:\/\/idp.example.com\/" is listed twice/,
    ],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, algorithms: ['HS256'] },
      /option "algorithms": HS256 cannot be verified with keys from "jwksUri"/,
    ],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, serviceAccounts: { disableRules: ['okta'] } },
      /serviceAccounts.disableRules/,
    ],
    [
      {
        issuer: ISSUER,
        audience: 'a',
        jwksUri,
        serviceAccounts: { rules: [{ matches: () => true }] },
      },
      /serviceAccounts.rules.0" must be \{ name, description, matches\(input\) \}/,
    ],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, audit: { write() {} } },
      /option "audit" must be an audit sink/,
    ],
    [
      { issuer: ISSUER, audience: 'a', jwksUri, now: Date.now() },
      /option "now" must be a function/,
    ],
  ])('%j is refused', (options, message) => {
    expect(() => authenticate(options as never)).toThrow(message);
    expect(() => authenticate(options as never)).toThrow(TypeError);
  });

  test('app.use(authenticate) without calling the factory fails loudly', () => {
    expect(() => authenticate({ headers: {}, method: 'GET', socket: {} } as never)).toThrow(
      'authenticate is a factory, not a middleware',
    );
  });

  test("the caller's options object is never mutated", () => {
    const options = { issuer: ISSUER, audience: ['a'], jwksUri, audit: createMemoryAuditSink() };
    const snapshot = JSON.stringify(options);
    authenticate(options);
    expect(JSON.stringify(options)).toBe(snapshot);
  });
});

describe('token rules of an issuer', () => {
  let idp: TestIssuer;
  beforeAll(async () => {
    idp = await createTestIssuer();
  });
  afterAll(() => idp.close());
  const opts = (extra: Partial<AuthenticateOptions> = {}): AuthenticateOptions => ({
    issuer: idp.issuer,
    audience: TEST_AUDIENCE,
    jwksUri: idp.jwksUri,
    audit: createMemoryAuditSink(),
    ...extra,
  });
  const identityOf = (body: unknown) => (body as { identity: Identity }).identity;

  test('userClaim names the user (DF_JWT_USER_CLAIM), and its absence is a 401', async () => {
    expect(
      identityOf((await get(opts({ userClaim: 'email' }), await idp.sign())).body).username,
    ).toBe('alice@example.com');
    expectRefusal(await get(opts({ userClaim: 'upn' }), await idp.sign()), {
      status: 401,
      code: 'token_claim_missing',
      bearerError: 'invalid_token',
    });
  });

  test('requireAccessTokenType accepts only typ at+jwt (RFC 9068)', async () => {
    const strict = opts({ requireAccessTokenType: true });
    expectRefusal(await get(strict, await idp.sign()), {
      status: 401,
      code: 'token_type_invalid',
      bearerError: 'invalid_token',
    });
    expect((await get(strict, await idp.sign({}, { header: { typ: 'at+jwt' } }))).status).toBe(200);
    expect(
      (await get(strict, await idp.sign({}, { header: { typ: 'application/at+jwt' } }))).status,
    ).toBe(200);
  });

  test('maxTokenAgeSec refuses old tokens and tokens without iat', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectRefusal(await get(opts({ maxTokenAgeSec: 60 }), await idp.sign({ iat: now - 600 })), {
      status: 401,
      code: 'token_too_old',
      bearerError: 'invalid_token',
    });
    expectRefusal(await get(opts({ maxTokenAgeSec: 60 }), await idp.sign({ iat: undefined })), {
      status: 401,
      code: 'token_claim_missing',
      bearerError: 'invalid_token',
    });
  });

  test('clockToleranceSec: default 30 s accepts a token expired 10 s ago; 0 does not', async () => {
    const recentlyExpired = await idp.sign({ exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await get(opts(), recentlyExpired)).status).toBe(200);
    expectRefusal(await get(opts({ clockToleranceSec: 0 }), recentlyExpired), {
      status: 401,
      code: 'token_expired',
      bearerError: 'invalid_token',
    });
  });

  test('maxTokenLifetimeSec bounds exp; requiredClaims are enforced', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectRefusal(
      await get(opts({ maxTokenLifetimeSec: 600 }), await idp.sign({ exp: now + 3600 })),
      {
        status: 401,
        code: 'token_lifetime_excessive',
        bearerError: 'invalid_token',
      },
    );
    expectRefusal(await get(opts({ requiredClaims: ['tid'] }), await idp.sign()), {
      status: 401,
      code: 'token_claim_missing',
      bearerError: 'invalid_token',
    });
  });

  test('an RFC 8693 act claim records the agent as actor; the user stays the subject', async () => {
    const res = await get(
      opts(),
      await idp.sign({
        act: { sub: 'ai-agent', client_id: 'agent-app', act: { sub: 'orchestrator' } },
      }),
    );
    expect(identityOf(res.body)).toMatchObject({
      subject: 'user-alice',
      kind: 'user',
      actor: { subject: 'ai-agent', clientId: 'agent-app', actor: { subject: 'orchestrator' } },
    });
  });

  test.each([['string'], [{ client_id: 'x' }], [[1, 2]]])(
    'a malformed act claim %j is a 401',
    async (act) => {
      expectRefusal(await get(opts(), await idp.sign({ act })), {
        status: 401,
        code: 'token_claim_invalid',
        bearerError: 'invalid_token',
      });
    },
  );

  test('a delegation chain deeper than five actors is refused', async () => {
    let act: Record<string, unknown> = { sub: 'agent-0' };
    for (let i = 1; i < 7; i++) act = { sub: `agent-${i}`, act };
    expectRefusal(await get(opts(), await idp.sign({ act })), {
      status: 401,
      code: 'token_claim_invalid',
      bearerError: 'invalid_token',
    });
  });

  test('resolveGroups fills in an Entra groups overage; its failure is a 503', async () => {
    const overage = { _claim_names: { groups: 'src1' } };
    const resolved = await get(
      opts({ resolveGroups: () => Promise.resolve(['Sales-Team']) }),
      await idp.sign(overage),
    );
    expect(identityOf(resolved.body)).toMatchObject({
      groups: ['Sales-Team'],
      groupsComplete: true,
    });
    const failing = await get(
      opts({ resolveGroups: () => Promise.reject(new Error('graph down')) }),
      await idp.sign(overage),
    );
    expectRefusal(failing, { status: 503, code: 'identity_provider_unavailable' });
  });
});
