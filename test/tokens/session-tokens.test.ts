import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import {
  createBearerAuthenticator,
  createMemorySessionStore,
  createSessionTokens,
  generateSigningKey,
  type Identity,
  type SessionStore,
  type SessionTokens,
  type SessionTokensOptions,
} from '../../lib/index.js';
import { subjectFor } from '../../lib/tokens/token-claims.js';
import { createIdentity, type IdentityInput } from '../../lib/core/identity.js';

// The token service on plain values: what it issues is checked with jose directly (not with the
// package's own verifier), and what it accepts through the framework-agnostic authenticator.

const ISSUER = 'https://assistant.example.com';
const T0 = Date.UTC(2030, 0, 15, 9, 0, 0);
const MINUTE = 60_000;
const PASSWORD = 'correct-horse-battery-staple-7f3a';

function clock(start = T0) {
  let current = start;
  return {
    now: () => current,
    advance(ms: number) {
      current += ms;
    },
    get sec() {
      return Math.floor(current / 1000);
    },
  };
}

function person(overrides: Partial<IdentityInput> = {}): Identity {
  return createIdentity({
    subject: 'uid=alice,ou=people,dc=example,dc=com',
    issuer: 'ldap://directory.example.com',
    provider: 'ldap',
    kind: 'user',
    username: 'alice',
    email: 'alice@example.com',
    name: 'Alice Example',
    groups: ['Sales-Team'],
    roles: ['reader'],
    scopes: [],
    attributes: {},
    ...overrides,
  });
}

// The directory's subject, as the package's tokens carry it (pairwise with the directory).
const ALICE_SUB = subjectFor(person(), ISSUER);

const serviceAccount = (): Identity =>
  person({
    subject: 'svc-reporting',
    username: 'svc-reporting',
    kind: 'service',
    serviceAccountRule: 'deny-list',
  });

function sessionsWith(options: Partial<SessionTokensOptions> = {}): SessionTokens {
  return createSessionTokens({ issuer: ISSUER, signingKeys: [generateSigningKey()], ...options });
}

// The authenticator authenticate() is built on, trusting only these sessions.
function verifierFor(sessions: SessionTokens, now: () => number = Date.now) {
  const authenticator = createBearerAuthenticator({ issuers: [sessions.trustedIssuer()], now });
  return (token: string) =>
    authenticator.authenticate({
      authorization: [`Bearer ${token}`],
      url: '/ai/chat',
      headers: {},
    });
}

async function verifyIndependently(
  sessions: SessionTokens,
  token: string,
  options: { typ: string; audience: string; now: number },
) {
  return jwtVerify(token, createLocalJWKSet({ keys: [...sessions.jwks.keys] }), {
    issuer: ISSUER,
    audience: options.audience,
    typ: options.typ,
    currentDate: new Date(options.now),
  });
}

function claimsOf(token: string): JWTPayload {
  return decodeJwt(token);
}

describe('createSessionTokens options', () => {
  describe('issuer', () => {
    test('missing: refused at startup, naming the option', () => {
      expect(() => createSessionTokens({ signingKeys: [generateSigningKey()] } as never)).toThrow(
        TypeError,
      );
      expect(() => createSessionTokens({ signingKeys: [generateSigningKey()] } as never)).toThrow(
        /^createSessionTokens: option "issuer"/,
      );
      expect(() =>
        createSessionTokens({ issuer: '', signingKeys: [generateSigningKey()] }),
      ).toThrow(/option "issuer"/);
    });

    test('it is the iss of every token, and the audience by default', async () => {
      const sessions = sessionsWith();
      expect(sessions.issuer).toBe(ISSUER);
      expect(sessions.audience).toBe(ISSUER);
      const issued = await sessions.issue(person());
      expect(claimsOf(issued.accessToken)).toMatchObject({ iss: ISSUER, aud: ISSUER });
    });
  });

  describe('audience', () => {
    test('names the access tokens; refresh tokens have the refresh audience of their own', async () => {
      const sessions = sessionsWith({ audience: 'api://assistant' });
      expect(sessions.audience).toBe('api://assistant');
      const issued = await sessions.issue(person());
      expect(claimsOf(issued.accessToken).aud).toBe('api://assistant');
      expect(claimsOf(issued.refreshToken).aud).toBe(`${ISSUER}#refresh`);
    });
  });

  describe('signingKeys', () => {
    const withKeys = (signingKeys: unknown) => () =>
      createSessionTokens({ issuer: ISSUER, signingKeys } as never);

    test('missing or empty: refused', () => {
      expect(withKeys(undefined)).toThrow(/option "signingKeys"/);
      expect(withKeys([])).toThrow(TypeError);
      expect(withKeys([])).toThrow(/option "signingKeys"/);
    });

    test('default key from generateSigningKey(): ES256, published with its RFC 7638 thumbprint as kid', async () => {
      const sessions = sessionsWith();
      expect(sessions.jwks.keys).toHaveLength(1);
      const [jwk] = sessions.jwks.keys;
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(jwk).not.toHaveProperty('d');
      expect(jwk?.kid).toBe(await calculateJwkThumbprint(jwk!));
      const issued = await sessions.issue(person());
      expect(decodeProtectedHeader(issued.accessToken)).toMatchObject({
        alg: 'ES256',
        kid: jwk?.kid,
      });
    });

    test('an RS256 key, given as PEM, signs RS256', async () => {
      const pem = generateSigningKey('RS256')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString();
      const sessions = sessionsWith({ signingKeys: [{ privateKey: pem, kid: 'rsa-2030' }] });
      expect(sessions.jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: 'rsa-2030' });
      const issued = await sessions.issue(person());
      expect(decodeProtectedHeader(issued.accessToken)).toMatchObject({
        alg: 'RS256',
        kid: 'rsa-2030',
      });
    });

    test('an HS256 secret shorter than 32 bytes: refused', () => {
      expect(withKeys([{ secret: 'x'.repeat(31) }])).toThrow(
        'option "signingKeys.0.secret": an HS256 secret needs at least 32 bytes (got 31)',
      );
      expect(withKeys([{ secret: new Uint8Array(16) }])).toThrow(/at least 32 bytes \(got 16\)/);
    });

    test('an RSA key under 2048 bits: refused', () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      expect(withKeys([{ privateKey }])).toThrow(TypeError);
      expect(withKeys([{ privateKey }])).toThrow(
        'option "signingKeys.0.privateKey": RSA keys need at least 2048 bits (got 1024)',
      );
    });

    test('a public key where the private key belongs: refused, as KeyObject, JWK and PEM', () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      expect(withKeys([{ privateKey: publicKey }])).toThrow(
        'option "signingKeys.0.privateKey": a private key is needed to sign',
      );
      expect(withKeys([{ privateKey: publicKey.export({ format: 'jwk' }) }])).toThrow(
        'option "signingKeys.0.privateKey": a private JWK (with "d") is needed to sign',
      );
      const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
      expect(withKeys([{ privateKey: pem }])).toThrow(
        'option "signingKeys.0.privateKey": not a PEM or JWK private key',
      );
    });

    test('an EC key on P-384: refused, naming the curve', () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      expect(withKeys([{ privateKey }])).toThrow(
        'option "signingKeys.0.privateKey": use an EC P-256 key (ES256) or an RSA key (RS256); got ec on secp384r1',
      );
    });

    test('an HMAC secret mixed with a private key: refused', () => {
      expect(withKeys([{ secret: randomBytes(32) }, generateSigningKey()])).toThrow(
        /option "signingKeys": mix of HMAC secrets and private keys/,
      );
    });

    test('the same kid twice: refused', () => {
      expect(
        withKeys([
          { ...generateSigningKey(), kid: 'k1' },
          { ...generateSigningKey(), kid: 'k1' },
        ]),
      ).toThrow('option "signingKeys": the kid "k1" is used twice');
    });
  });

  describe('sessionTtlMin', () => {
    test('default: 1440 (24 hours) of access token life', async () => {
      const time = clock();
      const issued = await sessionsWith({ now: time.now }).issue(person());
      expect(issued.expiresIn).toBe(86_400);
      const { exp, iat } = claimsOf(issued.accessToken);
      expect(exp! - iat!).toBe(86_400);
      expect(iat).toBe(time.sec);
    });

    test('a custom value is the access token life', async () => {
      const issued = await sessionsWith({ sessionTtlMin: 15, now: clock().now }).issue(person());
      expect(issued.expiresIn).toBe(900);
    });

    test.each([0, 1.5, 10_081])('%p: refused', (sessionTtlMin) => {
      expect(() => sessionsWith({ sessionTtlMin })).toThrow(/option "sessionTtlMin"/);
    });
  });

  describe('refreshTtlMin', () => {
    test('default: 20160 (14 days) after sign-in', async () => {
      const time = clock();
      const issued = await sessionsWith({ now: time.now }).issue(person());
      expect(issued.refreshExpiresIn).toBe(20_160 * 60);
      expect(claimsOf(issued.refreshToken).exp).toBe(time.sec + 20_160 * 60);
    });

    test('shorter than sessionTtlMin: refused', () => {
      expect(() => sessionsWith({ sessionTtlMin: 60, refreshTtlMin: 30 })).toThrow(
        'createSessionTokens: option "refreshTtlMin" must be at least sessionTtlMin (60): a session cannot end before its first token',
      );
      // Against the default session length too.
      expect(() => sessionsWith({ refreshTtlMin: 60 })).toThrow(/at least sessionTtlMin \(1440\)/);
    });
  });

  describe('store, now, generateId', () => {
    test('values of the wrong kind: refused', () => {
      expect(() => sessionsWith({ store: { revokeSession() {} } as never })).toThrow(
        'option "store" must be a session store: { revokeSession, isSessionRevoked, consumeRefreshToken }',
      );
      expect(() => sessionsWith({ now: 5 as never })).toThrow('option "now" must be a function');
    });

    test('generateId names the session and the tokens', async () => {
      let next = 0;
      const sessions = sessionsWith({ generateId: () => `id-${++next}` });
      const issued = await sessions.issue(person());
      expect(issued.sessionId).toBe('id-1');
      const ids = [claimsOf(issued.accessToken).jti, claimsOf(issued.refreshToken).jti];
      expect(ids.sort()).toEqual(['id-2', 'id-3']);
    });
  });

  test('a misspelled option: "did you mean"', () => {
    expect(() => sessionsWith({ sesionTtlMin: 60 } as never)).toThrow(
      'createSessionTokens: unknown option "sesionTtlMin" (did you mean "sessionTtlMin"?)',
    );
    // Inside a signing key (a union of two shapes) the typo is named, without a suggestion.
    expect(() =>
      sessionsWith({ signingKeys: [{ ...generateSigningKey(), kdi: 'x' }] } as never),
    ).toThrow('createSessionTokens: signingKeys.0: unknown option "kdi"');
  });

  test("the caller's options object is never mutated", () => {
    const options = { issuer: ISSUER, signingKeys: [{ secret: 'k'.repeat(40) }] };
    const snapshot = JSON.stringify(options);
    createSessionTokens(options);
    expect(JSON.stringify(options)).toBe(snapshot);
  });
});

describe('issue()', () => {
  test('access and refresh tokens verify with jose against the published JWKS', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const issued = await sessions.issue(person());
    const access = await verifyIndependently(sessions, issued.accessToken, {
      typ: 'at+jwt',
      audience: ISSUER,
      now: time.now(),
    });
    expect(access.payload).toEqual({
      iss: ISSUER,
      aud: ISSUER,
      sub: ALICE_SUB,
      preferred_username: 'alice',
      email: 'alice@example.com',
      name: 'Alice Example',
      groups: ['Sales-Team'],
      roles: ['reader'],
      idp: 'ldap',
      sid: issued.sessionId,
      jti: expect.any(String),
      iat: time.sec,
      exp: time.sec + 86_400,
    });
    const refresh = await verifyIndependently(sessions, issued.refreshToken, {
      typ: 'rt+jwt',
      audience: `${ISSUER}#refresh`,
      now: time.now(),
    });
    expect(refresh.payload).toMatchObject({
      sub: access.payload.sub,
      sid: issued.sessionId,
      exp: time.sec + 20_160 * 60,
    });
    expect(refresh.payload.jti).not.toBe(access.payload.jti);
    expect(issued).toMatchObject({ tokenType: 'Bearer', expiresIn: 86_400 });
    expect(issued.identity.username).toBe('alice');
  });

  test('nothing but what downstream needs: no attributes, no password, no credential', async () => {
    const sessions = sessionsWith();
    const issued = await sessions.issue(
      person({ attributes: { password: PASSWORD, employeeNumber: 'EMP-4711' } }),
    );
    for (const token of [issued.accessToken, issued.refreshToken]) {
      const text = JSON.stringify({ header: decodeProtectedHeader(token), ...claimsOf(token) });
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toMatch(/password/i);
      // A marker no timestamp can contain by chance.
      expect(text).not.toContain('EMP-4711');
    }
  });

  test('more than 200 groups: none carried, hasgroups says so, and the verifier sees the overage', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const groups = Array.from({ length: 201 }, (_, index) => `group-${index}`);
    const issued = await sessions.issue(person({ groups }));
    const claims = claimsOf(issued.accessToken);
    expect(claims).not.toHaveProperty('groups');
    expect(claims.hasgroups).toBe(true);
    expect(claims.roles).toEqual(['reader']);
    const identity = await verifierFor(sessions, time.now)(issued.accessToken);
    expect(identity).toMatchObject({ groups: [], groupsComplete: false, roles: ['reader'] });
    // Exactly 200 still fit.
    const fits = await sessions.issue(person({ groups: groups.slice(0, 200) }));
    expect(claimsOf(fits.accessToken).groups).toHaveLength(200);
  });

  test("the package's authenticator accepts the access token, with the sign-in provider", async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const issued = await sessions.issue(person());
    const identity = await verifierFor(sessions, time.now)(issued.accessToken);
    expect(identity).toMatchObject({
      subject: ALICE_SUB,
      issuer: ISSUER,
      provider: 'ldap',
      kind: 'user',
      username: 'alice',
      groups: ['Sales-Team'],
      roles: ['reader'],
      expiresAt: time.sec + 86_400,
    });
  });

  test('a service account gets no session', async () => {
    const sessions = sessionsWith();
    await expect(sessions.issue(serviceAccount())).rejects.toMatchObject({
      code: 'service_account_refused',
      status: 403,
      message: expect.stringMatching(/service account; sessions are issued to people only/),
      details: { rule: 'deny-list' },
    });
  });
});

describe('refresh()', () => {
  test('rotates: new tokens, same session; the old refresh token reused ends the session', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const verify = verifierFor(sessions, time.now);
    const first = await sessions.issue(person());
    time.advance(MINUTE);
    const second = await sessions.refresh(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.sessionId).toBe(first.sessionId);
    expect(claimsOf(second.accessToken).sid).toBe(first.sessionId);
    expect(second.identity).toMatchObject({ username: 'alice', provider: 'ldap' });
    expect((await verify(second.accessToken))?.username).toBe('alice');
    // The refreshed token carries the same person as the first.
    expect(claimsOf(second.accessToken)).toEqual({
      ...claimsOf(first.accessToken),
      jti: expect.any(String),
      iat: time.sec,
      exp: time.sec + 86_400,
    });
    expect(claimsOf(second.accessToken).jti).not.toBe(claimsOf(first.accessToken).jti);

    // A replay of the spent token: refused, and the session is over for both holders.
    await expect(sessions.refresh(first.refreshToken)).rejects.toMatchObject({
      code: 'refresh_token_invalid',
      status: 401,
      message: expect.stringMatching(/already used, so the session was ended/),
      details: { reuse: true },
    });
    await expect(verify(second.accessToken)).rejects.toMatchObject({
      code: 'token_revoked',
      message: expect.stringMatching(/signed out or revoked/),
    });
    await expect(sessions.refresh(second.refreshToken)).rejects.toMatchObject({
      code: 'refresh_token_invalid',
      message: expect.stringMatching(/session was signed out/),
    });
  });

  test('the session deadline is kept across rotations and caps the access token', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now, sessionTtlMin: 60, refreshTtlMin: 90 });
    const deadline = time.sec + 90 * 60;
    const first = await sessions.issue(person());
    expect(first.refreshExpiresIn).toBe(90 * 60);
    time.advance(30 * MINUTE);
    const second = await sessions.refresh(first.refreshToken);
    expect(claimsOf(second.accessToken).exp).toBe(time.sec + 3_600);
    expect(claimsOf(second.refreshToken).exp).toBe(deadline);
    time.advance(40 * MINUTE);
    const third = await sessions.refresh(second.refreshToken);
    // 20 minutes before the deadline, a fresh access token lives 20 minutes, not 60.
    expect(claimsOf(third.accessToken).exp).toBe(deadline);
    expect(third.expiresIn).toBe(20 * 60);
    expect(third.refreshExpiresIn).toBe(20 * 60);
    expect(claimsOf(third.refreshToken).exp).toBe(deadline);
    time.advance(20 * MINUTE);
    await expect(sessions.refresh(third.refreshToken)).rejects.toMatchObject({
      code: 'refresh_token_invalid',
      message: expect.stringMatching(/not valid or has expired; sign in again/),
    });
  });

  test('an access token is not a refresh token, and a refresh token is not an access token', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const issued = await sessions.issue(person());
    await expect(sessions.refresh(issued.accessToken)).rejects.toMatchObject({
      code: 'refresh_token_invalid',
      message: expect.stringMatching(/not valid or has expired/),
    });
    // Two locks keep a refresh token from working as a bearer token for 14 days: its type, and an
    // audience of its own.
    expect(claimsOf(issued.refreshToken).aud).toBe(`${sessions.audience}#refresh`);
    await expect(verifierFor(sessions, time.now)(issued.refreshToken)).rejects.toMatchObject({
      code: 'token_type_invalid',
      status: 401,
      message: expect.stringMatching(/typ "at\+jwt"/),
    });
    // Neither attempt spent the refresh token.
    await expect(sessions.refresh(issued.refreshToken)).resolves.toMatchObject({
      sessionId: issued.sessionId,
    });
  });

  test('garbage and foreign refresh tokens: refresh_token_invalid', async () => {
    const sessions = sessionsWith();
    const other = sessionsWith();
    const foreign = await other.issue(person());
    for (const token of ['', 'not-a-jwt', foreign.refreshToken]) {
      await expect(sessions.refresh(token)).rejects.toMatchObject({
        code: 'refresh_token_invalid',
        message: expect.stringMatching(/sign in again/),
      });
    }
  });
});

describe('signOut()', () => {
  test.each(['accessToken', 'refreshToken'] as const)(
    'by %s: every token of the session stops working',
    async (which) => {
      const time = clock();
      const sessions = sessionsWith({ now: time.now });
      const verify = verifierFor(sessions, time.now);
      const issued = await sessions.issue(person());
      const untouched = await sessions.issue(person({ subject: 'bob', username: 'bob' }));
      const identity = await sessions.signOut(issued[which]);
      expect(identity).toMatchObject({
        subject: ALICE_SUB,
        username: 'alice',
        provider: 'ldap',
        kind: 'user',
      });
      await expect(verify(issued.accessToken)).rejects.toMatchObject({ code: 'token_revoked' });
      await expect(sessions.refresh(issued.refreshToken)).rejects.toMatchObject({
        code: 'refresh_token_invalid',
        message: expect.stringMatching(/signed out/),
      });
      // Another session of the same service is not affected.
      expect((await verify(untouched.accessToken))?.username).toBe('bob');
    },
  );

  test("a token that is not one of this service's: token_malformed", async () => {
    const sessions = sessionsWith();
    const foreign = await sessionsWith().issue(person());
    for (const token of ['garbage', foreign.accessToken]) {
      await expect(sessions.signOut(token)).rejects.toMatchObject({
        code: 'token_malformed',
        message: expect.stringMatching(/not a valid session or refresh token/),
      });
    }
  });
});

describe('HS256 sessions', () => {
  test('issue, verify, refresh and sign out end to end; nothing is published', async () => {
    const time = clock();
    const secret = randomBytes(48);
    const sessions = sessionsWith({ signingKeys: [{ secret }], now: time.now });
    expect(sessions.jwks.keys).toEqual([]);
    const issued = await sessions.issue(person());
    expect(decodeProtectedHeader(issued.accessToken)).toMatchObject({
      alg: 'HS256',
      typ: 'at+jwt',
    });
    const { payload } = await jwtVerify(issued.accessToken, secret, {
      issuer: ISSUER,
      audience: ISSUER,
      currentDate: new Date(time.now()),
    });
    expect(payload.preferred_username).toBe('alice');
    const verify = verifierFor(sessions, time.now);
    expect((await verify(issued.accessToken))?.provider).toBe('ldap');
    const next = await sessions.refresh(issued.refreshToken);
    expect((await verify(next.accessToken))?.username).toBe('alice');
    await sessions.signOut(next.accessToken);
    await expect(verify(next.accessToken)).rejects.toMatchObject({ code: 'token_revoked' });
    // A token signed with another secret does not verify.
    const forged = await sessionsWith({ signingKeys: [{ secret: randomBytes(48) }] }).issue(
      person(),
    );
    await expect(verify(forged.accessToken)).rejects.toMatchObject({
      code: 'token_signature_invalid',
    });
  });
});

describe('key rotation', () => {
  test('a key listed second still verifies; a removed key does not', async () => {
    const time = clock();
    const store = createMemorySessionStore({ now: time.now });
    const old = { ...generateSigningKey(), kid: 'old' };
    const current = { ...generateSigningKey(), kid: 'new' };
    const before = sessionsWith({ signingKeys: [old], store, now: time.now });
    const issued = await before.issue(person());

    const during = sessionsWith({ signingKeys: [current, old], store, now: time.now });
    expect(during.jwks.keys.map((key) => key.kid)).toEqual(['new', 'old']);
    expect((await verifierFor(during, time.now)(issued.accessToken))?.username).toBe('alice');
    const refreshed = await during.refresh(issued.refreshToken);
    expect(decodeProtectedHeader(refreshed.accessToken).kid).toBe('new');
    expect(decodeProtectedHeader(refreshed.refreshToken).kid).toBe('new');

    const after = sessionsWith({ signingKeys: [current], store, now: time.now });
    await expect(verifierFor(after, time.now)(issued.accessToken)).rejects.toMatchObject({
      code: 'token_key_unknown',
      message: expect.stringMatching(/does not \(or no longer\) use/),
    });
    expect((await verifierFor(after, time.now)(refreshed.accessToken))?.username).toBe('alice');
  });

  test('rotating to another algorithm (ES256 to RS256) keeps old sessions working', async () => {
    const time = clock();
    const store = createMemorySessionStore({ now: time.now });
    const old = { ...generateSigningKey('ES256'), kid: 'ec-old' };
    const current = { ...generateSigningKey('RS256'), kid: 'rsa-new' };
    const issued = await sessionsWith({ signingKeys: [old], store, now: time.now }).issue(person());
    const during = sessionsWith({ signingKeys: [current, old], store, now: time.now });
    expect((await verifierFor(during, time.now)(issued.accessToken))?.username).toBe('alice');
    const refreshed = await during.refresh(issued.refreshToken);
    expect(decodeProtectedHeader(refreshed.accessToken)).toMatchObject({
      alg: 'RS256',
      kid: 'rsa-new',
    });
    expect((await verifierFor(during, time.now)(refreshed.accessToken))?.username).toBe('alice');
  });
});

describe('mint()', () => {
  const request = { audience: 'https://orders.internal', agent: 'ai-assistant', ttlSec: 300 };

  test('a token for one upstream: its audience, the user as subject, the agent as actor', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const token = await sessions.mint(person({ expiresAt: time.sec + 3_600 }), request);
    const { payload, protectedHeader } = await verifyIndependently(sessions, token, {
      typ: 'at+jwt',
      audience: 'https://orders.internal',
      now: time.now(),
    });
    expect(protectedHeader.kid).toBe(sessions.jwks.keys[0]?.kid);
    expect(payload).toMatchObject({
      iss: ISSUER,
      aud: 'https://orders.internal',
      sub: ALICE_SUB,
      preferred_username: 'alice',
      idp: 'ldap',
      client_id: 'ai-assistant',
      act: { sub: 'ai-assistant' },
      iat: time.sec,
      exp: time.sec + 300,
    });
    expect(payload).not.toHaveProperty('sid');
    // It is no session token: the application itself refuses it.
    await expect(verifierFor(sessions, time.now)(token)).rejects.toMatchObject({
      code: 'token_claim_missing',
      message: expect.stringMatching(/lacks the required "sid" claim/),
    });
  });

  test('a delegated identity: the previous actor chain is nested under the agent', async () => {
    const sessions = sessionsWith();
    const identity = person({
      actor: {
        subject: 'planner-agent',
        issuer: 'https://idp.example.com/',
        clientId: 'planner',
        actor: { subject: 'gateway' },
      },
    });
    const token = await sessions.mint(identity, request);
    expect(claimsOf(token).act).toEqual({
      sub: 'ai-assistant',
      act: {
        sub: 'planner-agent',
        iss: 'https://idp.example.com/',
        client_id: 'planner',
        act: { sub: 'gateway' },
      },
    });
  });

  test("never outlives the identity's own token", async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now });
    const token = await sessions.mint(person({ expiresAt: time.sec + 42 }), request);
    expect(claimsOf(token).exp).toBe(time.sec + 42);
    await expect(sessions.mint(person({ expiresAt: time.sec }), request)).rejects.toMatchObject({
      code: 'token_expired',
      status: 401,
      message: expect.stringMatching(/session has expired, so no token can be minted/),
    });
  });

  test('a service account: refused', async () => {
    await expect(sessionsWith().mint(serviceAccount(), request)).rejects.toMatchObject({
      code: 'service_account_refused',
      message: expect.stringMatching(/minted for people only/),
      details: { rule: 'deny-list' },
    });
  });
});

describe('session store', () => {
  test('the memory store is bounded: when full, refresh and sign-out answer 503 rather than forget', async () => {
    const time = clock();
    // Used refresh tokens and sign-outs are bounded separately: one of each fits.
    const store = createMemorySessionStore({ maxEntries: 1, now: time.now });
    const sessions = sessionsWith({ store, now: time.now, sessionTtlMin: 60, refreshTtlMin: 60 });
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => sessions.issue(person())));
    await sessions.refresh(a!.refreshToken);
    await sessions.signOut(b!.accessToken);
    const full = {
      code: 'session_store_unavailable',
      status: 503,
      expose: false,
      message: expect.stringMatching(/session store cannot be reached/),
    };
    await expect(sessions.refresh(c!.refreshToken)).rejects.toMatchObject(full);
    // Sign-outs have ten times the room: a full refresh record never blocks ending a session.
    await expect(sessions.signOut(c!.accessToken)).resolves.toMatchObject({ username: 'alice' });
    await expect(verifierFor(sessions, time.now)(c!.accessToken)).rejects.toMatchObject({
      code: 'token_revoked',
    });
    // Once the stored entries have expired, they make room.
    time.advance(121 * MINUTE);
    const later = await sessions.issue(person());
    await expect(sessions.refresh(later.refreshToken)).resolves.toMatchObject({
      sessionId: later.sessionId,
    });
  });

  test('a store that fails: 503 session_store_unavailable, never a 401', async () => {
    const time = clock();
    const broken: SessionStore = {
      revokeSession() {
        throw new Error('ECONNREFUSED redis:6379');
      },
      isSessionRevoked() {
        return Promise.reject(new Error('ECONNREFUSED redis:6379'));
      },
      consumeRefreshToken() {
        throw new Error('ECONNREFUSED redis:6379');
      },
    };
    const sessions = sessionsWith({ store: broken, now: time.now });
    const issued = await sessions.issue(person());
    await expect(sessions.refresh(issued.refreshToken)).rejects.toMatchObject({
      code: 'session_store_unavailable',
      status: 503,
    });
    await expect(verifierFor(sessions, time.now)(issued.accessToken)).rejects.toMatchObject({
      code: 'session_store_unavailable',
      message: expect.stringMatching(/cannot be checked right now/),
    });
  });
});

describe('signOut() with an expired access token', () => {
  test('ends the session while its refresh token could still be used', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now, sessionTtlMin: 60, refreshTtlMin: 600 });
    const issued = await sessions.issue(person());
    time.advance(61 * MINUTE);
    await expect(sessions.signOut(issued.accessToken)).resolves.toMatchObject({
      username: 'alice',
    });
    await expect(sessions.refresh(issued.refreshToken)).rejects.toMatchObject({
      code: 'refresh_token_invalid',
      message: expect.stringMatching(/signed out/),
    });
  });

  test('but not once the whole session is over', async () => {
    const time = clock();
    const sessions = sessionsWith({ now: time.now, sessionTtlMin: 60, refreshTtlMin: 120 });
    const issued = await sessions.issue(person());
    time.advance(60 * MINUTE + 121 * MINUTE);
    await expect(sessions.signOut(issued.accessToken)).rejects.toMatchObject({
      code: 'token_malformed',
    });
  });
});
