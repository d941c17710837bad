// The OIDC fixture, exercised by the real openid-client v6 as a relying party would use it.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import {
  ACCESS_TOKEN_TYPE,
  startOidcProvider,
  TOKEN_EXCHANGE_GRANT,
  type OidcIdp,
  type OidcUserName,
} from './oidc-idp.js';

// Never called: login() stops at the redirect back to the relying party.
const REDIRECT_URI = 'https://rp.example.test/auth/callback';

let idp: OidcIdp;
let config: client.Configuration;

/**
 * openid-client refuses plain HTTP (ClientError OAUTH_HTTP_REQUEST_FORBIDDEN, "only requests to
 * HTTPS are allowed") unless allowInsecureRequests runs on the configuration; passed in `execute`
 * it also covers the discovery request itself. It is marked deprecated only to stand out.
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the fixture IdP is HTTP on 127.0.0.1
const allowInsecureRequests = client.allowInsecureRequests;

/** `timeout` is in seconds and becomes the configuration's timeout for every later request. */
function discover(timeout = 5): Promise<client.Configuration> {
  return client.discovery(
    new URL(idp.issuer),
    idp.clientId,
    undefined,
    // openid-client's default is client_secret_post; the client is registered for (and the
    // fixture holds it to) client_secret_basic.
    client.ClientSecretBasic(idp.clientSecret),
    { execute: [allowInsecureRequests], timeout },
  );
}

async function signIn(user: OidcUserName, parameters: Record<string, string> = {}) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile groups',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...parameters,
  });
  const callback = new URL(await idp.login(url, user));
  return { callback, codeVerifier, state, nonce };
}

async function signInWithTokens(user: OidcUserName) {
  const { callback, codeVerifier, state, nonce } = await signIn(user);
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  });
}

async function verifyAccessToken(token: string, audience: string) {
  const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
  return jwtVerify(token, jwks, { issuer: idp.issuer, audience, typ: 'at+jwt' });
}

function exchange(subjectToken: string, parameters: Record<string, string> = {}) {
  return client.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, {
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    resource: idp.dataAudience,
    ...parameters,
  });
}

beforeAll(async () => {
  idp = await startOidcProvider({ redirectUris: [REDIRECT_URI] });
  config = await discover();
});

afterAll(async () => {
  await idp.stop();
});

describe('oidc-idp fixture', () => {
  test('discovery advertises the flows the relying party relies on', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metadata.jwks_uri).toBe(idp.jwksUri);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.grant_types_supported).toEqual(
      expect.arrayContaining([
        'authorization_code',
        'refresh_token',
        'client_credentials',
        TOKEN_EXCHANGE_GRANT,
      ]),
    );
  });

  test('code flow with PKCE, state and nonce: ID token claims, a JWT access token for the API', async () => {
    const { callback, codeVerifier, state, nonce } = await signIn('alice');
    // RFC 9207: the authorization response names its issuer.
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('iss')).toBe(idp.issuer);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()).toMatchObject({
      iss: idp.issuer,
      aud: idp.clientId,
      sub: idp.users.alice.sub,
      nonce,
      email: 'alice@example.test',
      name: 'Alice Archer',
      preferred_username: 'alice',
      groups: ['Sales-Team', 'AI Users'],
    });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.refresh_token).toEqual(expect.any(String));

    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({
      alg: 'RS256',
      typ: 'at+jwt',
    });
    const { payload } = await verifyAccessToken(tokens.access_token, idp.apiAudience);
    expect(payload).toMatchObject({
      sub: idp.users.alice.sub,
      client_id: idp.clientId,
      aud: idp.apiAudience,
      groups: ['Sales-Team', 'AI Users'],
    });
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  test('the API scope reaches the access token only when requested', async () => {
    const { callback, codeVerifier, state, nonce } = await signIn('bob', {
      scope: 'openid email assistant:chat',
    });
    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const { payload } = await verifyAccessToken(tokens.access_token, idp.apiAudience);
    expect(payload).toMatchObject({ sub: idp.users.bob.sub, scope: 'assistant:chat' });
    expect(payload.groups).toEqual(['Support']);
  });

  test('refresh rotates the refresh token; replaying the old one revokes the grant', async () => {
    const first = await signInWithTokens('alice');
    const refreshed = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    const { payload } = await verifyAccessToken(refreshed.access_token, idp.apiAudience);
    expect(payload.sub).toBe(idp.users.alice.sub);

    const replay = client.refreshTokenGrant(config, first.refresh_token!);
    await expect(replay).rejects.toBeInstanceOf(client.ResponseBodyError);
    await expect(replay).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: 'grant request is invalid',
      status: 400,
    });
    // Reuse detection: the rotated successor dies with the grant.
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  test('token exchange: same user, data audience, the client as actor', async () => {
    const tokens = await signInWithTokens('alice');
    const exchanged = await exchange(tokens.access_token);
    expect(exchanged).toMatchObject({
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'bearer',
      expires_in: 120,
      scope: 'data:read',
    });
    const { payload } = await verifyAccessToken(exchanged.access_token, idp.dataAudience);
    expect(payload).toMatchObject({
      sub: idp.users.alice.sub,
      aud: idp.dataAudience,
      act: { sub: idp.clientId },
      client_id: idp.clientId,
      groups: ['Sales-Team', 'AI Users'],
    });

    // The data token is not itself a subject token, and the API is not an exchange target.
    await expect(exchange(exchanged.access_token)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await expect(
      exchange(tokens.access_token, { resource: idp.apiAudience }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
  });

  test('a client credentials token is app-only and cannot be exchanged', async () => {
    const appToken = await client.clientCredentialsGrant(config, {});
    const { payload } = await verifyAccessToken(appToken.access_token, idp.apiAudience);
    expect(payload.sub).toBe(idp.clientId);
    expect(payload.groups).toBeUndefined();

    const refused = exchange(appToken.access_token);
    await expect(refused).rejects.toBeInstanceOf(client.ResponseBodyError);
    // The provider said why; a relying party would log error_description.
    await expect(refused).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: 'subject_token represents a client, not a user',
      status: 400,
    });
  });

  describe('the relying party rejects a forged or mismatched callback', () => {
    // Callback checks fail before the token request, as a ClientError whose cause is
    // oauth4webapi's OperationProcessingError naming the parameter.
    const invalidResponse = (reason: string) => ({
      name: 'ClientError',
      code: 'OAUTH_INVALID_RESPONSE',
      message: 'invalid response encountered',
      cause: expect.objectContaining({ name: 'OperationProcessingError', message: reason }),
    });

    test('wrong or missing state', async () => {
      const { callback, codeVerifier, state, nonce } = await signIn('alice');
      const attempt = client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: codeVerifier,
        expectedState: client.randomState(),
        expectedNonce: nonce,
      });
      await expect(attempt).rejects.toBeInstanceOf(client.ClientError);
      await expect(attempt).rejects.toMatchObject(
        invalidResponse('unexpected "state" response parameter value'),
      );
      const stateless = new URL(callback);
      stateless.searchParams.delete('state');
      await expect(
        client.authorizationCodeGrant(config, stateless, {
          pkceCodeVerifier: codeVerifier,
          expectedState: state,
          expectedNonce: nonce,
        }),
      ).rejects.toMatchObject(invalidResponse('response parameter "state" missing'));
    });

    test('missing or foreign iss (RFC 9207: discovery says the provider always sends it)', async () => {
      const { callback, codeVerifier, state, nonce } = await signIn('alice');
      const checks = { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce };
      const withoutIss = new URL(callback);
      withoutIss.searchParams.delete('iss');
      await expect(client.authorizationCodeGrant(config, withoutIss, checks)).rejects.toMatchObject(
        invalidResponse('response parameter "iss" (issuer) missing'),
      );
      const foreignIss = new URL(callback);
      foreignIss.searchParams.set('iss', 'https://evil.example.test');
      await expect(client.authorizationCodeGrant(config, foreignIss, checks)).rejects.toMatchObject(
        invalidResponse('unexpected "iss" (issuer) response parameter value'),
      );
    });

    test('wrong nonce: detected in the ID token, after the code was redeemed', async () => {
      const { callback, codeVerifier, state } = await signIn('alice');
      const attempt = client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: codeVerifier,
        expectedState: state,
        expectedNonce: client.randomNonce(),
      });
      await expect(attempt).rejects.toMatchObject({
        name: 'ClientError',
        code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
        message: 'unexpected JWT claim value encountered',
        cause: expect.objectContaining({ message: 'unexpected ID Token "nonce" claim value' }),
      });
      expect(idp.tokenRequests.at(-1)).toEqual({ grantType: 'authorization_code' });
    });

    test('wrong PKCE verifier: the provider refuses the code', async () => {
      const { callback, state, nonce } = await signIn('alice');
      const attempt = client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: state,
        expectedNonce: nonce,
      });
      await expect(attempt).rejects.toBeInstanceOf(client.ResponseBodyError);
      await expect(attempt).rejects.toMatchObject({
        code: 'OAUTH_RESPONSE_BODY_ERROR',
        error: 'invalid_grant',
        status: 400,
      });
      expect(idp.tokenRequests.at(-1)).toEqual({
        grantType: 'authorization_code',
        error: 'invalid_grant',
        detail: 'code_verifier does not match code_challenge',
      });
    });
  });

  test('an authorization request without PKCE comes back with invalid_request', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: client.randomState(),
    });
    const callback = new URL(await idp.login(url, 'alice'));
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toBe(
      'Authorization Server policy requires PKCE to be used for this request',
    );
    expect(callback.searchParams.get('iss')).toBe(idp.issuer);
  });

  test('an unregistered redirect URI is refused at the provider, not redirected to', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'https://attacker.example.test/cb',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    await expect(idp.login(url, 'alice')).rejects.toThrow(
      /^login: 400 at \/auth: .*"error":"invalid_redirect_uri"/,
    );
  });

  test('a user who aborts sign-in sends the client access_denied', async () => {
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state,
    });
    const callback = new URL(await idp.login(url, 'bob', { deny: true }));
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const attempt = client.authorizationCodeGrant(config, callback, { expectedState: state });
    await expect(attempt).rejects.toBeInstanceOf(client.AuthorizationResponseError);
    await expect(attempt).rejects.toMatchObject({
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    });
  });

  test('client_secret_post is refused: the client is registered for client_secret_basic', async () => {
    const postConfig = await client.discovery(
      new URL(idp.issuer),
      idp.clientId,
      idp.clientSecret,
      undefined,
      { execute: [allowInsecureRequests] },
    );
    await expect(client.clientCredentialsGrant(postConfig, {})).rejects.toMatchObject({
      name: 'ResponseBodyError',
      error: 'invalid_client',
      status: 401,
    });
  });

  test('redirect URIs can be registered after start, in normalized form', async () => {
    expect(() => idp.addRedirectUri('http://127.0.0.1:4100')).toThrow(
      'redirect URI must be normalized: use http://127.0.0.1:4100/',
    );
    const late = 'http://127.0.0.1:4100/oidc/callback';
    idp.addRedirectUri(late);
    expect(idp.redirectUris).toEqual([REDIRECT_URI, late]);
    const { callback } = await signIn('carol', { redirect_uri: late });
    expect(callback.origin + callback.pathname).toBe(late);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
  });

  test('token exchange also takes the RFC 8693 audience parameter', async () => {
    const tokens = await signInWithTokens('bob');
    const exchanged = await client.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: idp.dataAudience,
      scope: 'data:write',
    });
    const { payload } = await verifyAccessToken(exchanged.access_token, idp.dataAudience);
    expect(payload).toMatchObject({ sub: idp.users.bob.sub, scope: 'data:write' });
  });

  test('revoking the user grants makes refresh fail', async () => {
    const tokens = await signInWithTokens('bob');
    expect(await idp.revokeGrants('bob')).toBeGreaterThanOrEqual(1);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  describe('an unreachable IdP', () => {
    /**
     * Under plain Node openid-client rethrows fetch's own TypeError('fetch failed'). Under Jest
     * that TypeError comes from another realm (Node's undici, outside the test's vm context), so
     * openid-client's `instanceof TypeError` misses and it wraps it: ClientError('something went
     * wrong', { cause }) with no `code`. Relying-party code should look at the cause chain.
     */
    const networkFailure = {
      name: 'ClientError',
      message: 'something went wrong',
      cause: expect.objectContaining({
        name: 'TypeError',
        message: 'fetch failed',
        cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
      }),
    };

    test('down: discovery and refresh fail with a refused connection; up() recovers', async () => {
      const tokens = await signInWithTokens('alice');
      await idp.down();
      try {
        const failedDiscovery = await discover().catch((error: unknown) => error);
        expect(failedDiscovery).toMatchObject(networkFailure);
        expect((failedDiscovery as client.ClientError).code).toBeUndefined();
        await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject(
          networkFailure,
        );
      } finally {
        await idp.up();
      }
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.access_token).toEqual(expect.any(String));
      expect(idp.tokenRequests.at(-1)).toEqual({ grantType: 'refresh_token' });
    });

    test('hanging: the client gives up after its own timeout with OAUTH_TIMEOUT', async () => {
      await idp.hang();
      try {
        const started = Date.now();
        await expect(discover(1)).rejects.toMatchObject({
          name: 'ClientError',
          code: 'OAUTH_TIMEOUT',
          message: 'operation timed out',
          cause: expect.objectContaining({ name: 'TimeoutError' }),
        });
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        await idp.up();
      }
      await expect(discover()).resolves.toBeInstanceOf(client.Configuration);
    });
  });
});
