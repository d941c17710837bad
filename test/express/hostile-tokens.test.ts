import { createHmac, createPublicKey, type JsonWebKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createMemoryAuditSink,
  type AuthenticateOptions,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import {
  b64url,
  createTestIssuer,
  TEST_AUDIENCE,
  type TestIssuer,
} from '../helpers/test-issuer.js';

let idp: TestIssuer;
let keyHost: Server;
let keyHostHits = 0;
let keyHostUrl: string;

beforeAll(async () => {
  idp = await createTestIssuer();
  // A server an attacker would point jku/x5u at: it must never be contacted.
  keyHost = createServer((_req, res) => {
    keyHostHits += 1;
    res.end(JSON.stringify({ keys: [] }));
  });
  await new Promise<void>((resolve) => keyHost.listen(0, '127.0.0.1', resolve));
  keyHostUrl = `http://127.0.0.1:${(keyHost.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await closeServers();
  await idp.close();
  keyHost.closeAllConnections();
  await new Promise((resolve) => keyHost.close(resolve));
});

const now = () => Math.floor(Date.now() / 1000);

function unsigned(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signature = '',
): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

function hmac(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  secret: Buffer | string,
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function basePayload(): Record<string, unknown> {
  return { iss: idp.issuer, aud: TEST_AUDIENCE, sub: 'mallory', exp: now() + 300, iat: now() };
}

describe.each(EXPRESS_VERSIONS)('hostile tokens on %s', (_name, express) => {
  let audit: MemoryAuditSink;
  let agent: Awaited<ReturnType<typeof serve>>;

  const options = (extra: Partial<AuthenticateOptions> = {}): AuthenticateOptions => ({
    issuer: idp.issuer,
    audience: TEST_AUDIENCE,
    jwksUri: idp.jwksUri,
    audit,
    ...extra,
  });

  beforeEach(async () => {
    audit = createMemoryAuditSink();
    agent = await serve(buildApp(express, options()));
  });

  async function expectInvalid(token: string, code: string): Promise<void> {
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
    expectRefusal(res, { status: 401, code, bearerError: 'invalid_token' });
    const event = audit.events.at(-1);
    expect(event).toMatchObject({
      action: 'authenticate',
      outcome: 'denied',
      reason: code,
      user: null,
    });
    // Neither the token nor its signature ever reaches the audit trail.
    expect(JSON.stringify(audit.events)).not.toContain(token.split('.')[2] || token);
  }

  afterEach(async () => {
    // No hostile token may leave the server broken: a good token still works.
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.status).toBe(200);
  });

  test.each(['none', 'None', 'NONE', 'nOnE'])(
    'alg %j is refused, with or without a signature',
    async (alg) => {
      const header = { alg, typ: 'JWT', kid: idp.currentKid };
      await expectInvalid(unsigned(header, basePayload()), 'token_algorithm_refused');
      await expectInvalid(
        unsigned(header, basePayload(), 'c2lnbmF0dXJl'),
        'token_algorithm_refused',
      );
    },
  );

  test('HS256 signed with the RS256 public key is refused in every encoding of that key', async () => {
    const jwk = idp.publicJwk();
    const publicKey = createPublicKey({
      key: jwk as JsonWebKey,
      format: 'jwk',
    });
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const encodings: (Buffer | string)[] = [
      pem,
      pem.trim(),
      publicKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
      publicKey.export({ format: 'der', type: 'spki' }),
      JSON.stringify(jwk),
      Buffer.from(String(jwk.n), 'base64url'),
    ];
    for (const secret of encodings) {
      const token = hmac({ alg: 'HS256', typ: 'JWT', kid: idp.currentKid }, basePayload(), secret);
      await expectInvalid(token, 'token_algorithm_refused');
    }
  });

  test('time claims: expired, not yet valid, issued in the future, absurd or missing exp', async () => {
    await expectInvalid(await idp.sign({ exp: now() - 120, iat: now() - 600 }), 'token_expired');
    await expectInvalid(await idp.sign({ nbf: now() + 600 }), 'token_not_yet_valid');
    await expectInvalid(await idp.sign({ iat: now() + 600 }), 'token_not_yet_valid');
    await expectInvalid(await idp.sign({ exp: 253402300799 }), 'token_lifetime_excessive');
    const base = basePayload();
    await expectInvalid(
      await idp.signRaw(
        `{"iss":${JSON.stringify(base['iss'])},"aud":"${TEST_AUDIENCE}","sub":"mallory","exp":1e400}`,
      ),
      'token_claim_invalid',
    );
    await expectInvalid(await idp.sign({ exp: undefined }), 'token_claim_missing');
    await expectInvalid(await idp.sign({ exp: String(now() + 300) }), 'token_claim_invalid');
    await expectInvalid(await idp.sign({ iat: 'yesterday' }), 'token_claim_invalid');
  });

  test('issuer and audience: wrong, missing, or listed only alongside others', async () => {
    await expectInvalid(await idp.sign({ iss: 'https://evil.example/' }), 'token_issuer_unknown');
    await expectInvalid(await idp.sign({ iss: undefined }), 'token_claim_missing');
    await expectInvalid(await idp.sign({ iss: [idp.issuer] }), 'token_claim_missing');
    await expectInvalid(await idp.sign({ aud: 'api://other' }), 'token_audience_invalid');
    await expectInvalid(await idp.sign({ aud: undefined }), 'token_claim_missing');
    const listed = await idp.sign({ aud: ['api://other', TEST_AUDIENCE] });
    expect((await agent.get('/me').set('Authorization', `Bearer ${listed}`)).status).toBe(200);
  });

  test('tampered payload, cut signature, truncated and non-base64url tokens', async () => {
    const token = await idp.sign();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'admin' };
    await expectInvalid(`${header}.${b64url(forged)}.${signature}`, 'token_signature_invalid');
    await expectInvalid(
      `${header}.${payload}.${signature.slice(0, -10)}`,
      'token_signature_invalid',
    );
    await expectInvalid(`${header}.${payload}`, 'token_malformed');
    await expectInvalid(`${header}.${payload}.`, 'token_malformed');
    await expectInvalid(header, 'token_malformed');
    await expectInvalid(`${header}.${payload}.${signature}.extra`, 'token_malformed');
    await expectInvalid(
      `${header}.${payload.slice(0, 5)}+/${payload.slice(5)}.${signature}`,
      'token_malformed',
    );
    await expectInvalid(`${b64url('{not json')}.${payload}.${signature}`, 'token_malformed');
    await expectInvalid(`${b64url('[1,2]')}.${payload}.${signature}`, 'token_malformed');
    await expectInvalid(`${header}.${b64url('"a string"')}.${signature}`, 'token_malformed');
    for (const notAnObject of ['null', '[]', '42', '{"iss":', '']) {
      await expectInvalid(`${b64url(notAnObject)}.${payload}.${signature}`, 'token_malformed');
      await expectInvalid(`${header}.${b64url(notAnObject)}.${signature}`, 'token_malformed');
    }
  });

  test('an oversized token is refused before it is parsed', async () => {
    const small = await serve(buildApp(express, options({ maxTokenBytes: 2048 })));
    const big = await idp.sign({ padding: 'x'.repeat(3000) });
    const res = await small.get('/me').set('Authorization', `Bearer ${big}`);
    expectRefusal(res, { status: 401, code: 'token_too_large', bearerError: 'invalid_token' });
  });

  test('an encrypted token (JWE) is refused with a clear code', async () => {
    const jwe = [
      'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ',
      'a2V5',
      'aXY',
      'Y2lwaGVy',
      'dGFn',
    ].join('.');
    await expectInvalid(jwe, 'token_encrypted');
  });

  test.each([
    [{ crit: ['exp'], exp: 1 }],
    [{ crit: ['b64'], b64: true }],
    [{ crit: ['unknown-extension'], 'unknown-extension': 1 }],
  ])('crit header %j is refused', async (extra) => {
    await expectInvalid(await idp.sign({}, { header: extra }), 'token_header_forbidden');
  });

  test('keys offered in the header (jwk, jku, x5u, x5c) are refused and never fetched', async () => {
    const before = keyHostHits;
    await expectInvalid(
      await idp.sign({}, { header: { jwk: idp.publicJwk() } }),
      'token_header_forbidden',
    );
    await expectInvalid(
      await idp.sign({}, { header: { jku: keyHostUrl } }),
      'token_header_forbidden',
    );
    await expectInvalid(
      await idp.sign({}, { header: { x5u: keyHostUrl } }),
      'token_header_forbidden',
    );
    await expectInvalid(
      await idp.sign({}, { header: { x5c: ['MIIB'] } }),
      'token_header_forbidden',
    );
    expect(keyHostHits).toBe(before);
  });

  test('kid tricks: path traversal, injection, huge, wrong type, missing among several keys', async () => {
    for (const kid of ['../../../../etc/passwd', "' OR '1'='1", '\u0000', 'k'.repeat(256)]) {
      await expectInvalid(await idp.sign({}, { header: { kid } }), 'token_key_unknown');
    }
    for (const kid of ['k'.repeat(257), '', 42, null, ['a']]) {
      await expectInvalid(await idp.sign({}, { header: { kid } }), 'token_malformed');
    }
  });

  test('a flood of unknown kids neither hammers the JWKS endpoint nor starves known keys', async () => {
    const flood = await createTestIssuer();
    try {
      const floodAgent = await serve(
        buildApp(express, {
          issuer: flood.issuer,
          audience: TEST_AUDIENCE,
          jwksUri: flood.jwksUri,
          jwksRequestsPerMinute: 5,
          jwksCacheMaxAgeMs: 1_000,
          tokenCache: false,
          audit,
        }),
      );
      const good = await flood.sign();
      expect((await floodAgent.get('/me').set('Authorization', `Bearer ${good}`)).status).toBe(200);
      const codes: string[] = [];
      for (let i = 0; i < 60; i++) {
        const token = await flood.sign({}, { header: { kid: `made-up-${i}` } });
        const res = await floodAgent.get('/me').set('Authorization', `Bearer ${token}`);
        codes.push(`${res.status} ${(res.body as { code: string }).code}`);
      }
      // The budget (5 a minute, one spent on the real key) looks up four made-up kids; the
      // rest are not looked up at all: "cannot check now, retry" rather than "bad token".
      expect(codes.slice(0, 4)).toEqual(Array(4).fill('401 token_key_unknown'));
      expect(new Set(codes.slice(4))).toEqual(new Set(['503 identity_provider_unavailable']));
      expect(flood.jwksRequests).toBeLessThanOrEqual(5);
      // The known key keeps working during the flood, even once its cache entry has expired.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await floodAgent.get('/me').set('Authorization', `Bearer ${good}`)).status).toBe(200);
    } finally {
      await flood.close();
    }
  });
});
