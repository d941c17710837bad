import {
  authenticate,
  createMemoryAuditSink,
  type AuditEvent,
  type AuthenticateOptions,
  type ClaimPresetName,
  type MemoryAuditSink,
} from '../../lib/index.js';
import {
  AUTH0_CLIENT,
  auth0M2M,
  auth0User,
  entraV1AppOnly,
  entraV1Delegated,
  entraV2AppOnly,
  entraV2Delegated,
  googleServiceAccount,
  googleUser,
  keycloakServiceAccount,
  keycloakUser,
  OKTA_CLIENT,
  oktaClientCredentials,
  oktaUser,
  rfc9068ClientCredentials,
  withoutClaim,
} from '../fixtures/provider-claims.js';
import { buildApp } from '../helpers/app.js';
import { EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { TEST_AUDIENCE, type Claims, useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();

// The test issuer's defaults describe a person (alice); an application's token has none of it.
const NO_PERSON: Claims = {
  preferred_username: undefined,
  email: undefined,
  name: undefined,
  scope: undefined,
};

/**
 * A provider's claims as the test issuer signs them: its own iss, aud, iat, exp and jti (so that
 * the token verifies), and none of its default person beyond what the provider put there.
 */
const reissued = (claims: Claims): Claims => ({
  ...NO_PERSON,
  sub: undefined,
  ...withoutClaim(claims, 'iss', 'aud', 'iat', 'nbf', 'exp', 'jti'),
});

interface ProviderCase {
  readonly provider: string;
  readonly preset: ClaimPresetName;
  readonly service: Claims;
  readonly rule: string;
  readonly user: Claims;
}

const PROVIDERS: readonly ProviderCase[] = [
  {
    provider: 'Entra ID v2',
    preset: 'entra',
    service: reissued(entraV2AppOnly),
    rule: 'entra-app-only',
    user: reissued(entraV2Delegated),
  },
  {
    provider: 'Entra ID v1 (no idtyp)',
    preset: 'entra',
    service: reissued(entraV1AppOnly),
    rule: 'entra-app-only',
    user: reissued(entraV1Delegated),
  },
  {
    provider: 'Okta',
    preset: 'okta',
    service: reissued(oktaClientCredentials),
    rule: 'okta-client-credentials',
    user: reissued(oktaUser),
  },
  {
    provider: 'Auth0 (gty client-credentials)',
    preset: 'auth0',
    service: reissued(auth0M2M),
    rule: 'auth0-client-credentials',
    user: reissued(auth0User),
  },
  {
    provider: 'Auth0 (gty client_credentials)',
    preset: 'auth0',
    service: reissued({ ...auth0M2M, gty: 'client_credentials', sub: 'svc-exporter' }),
    rule: 'auth0-client-credentials',
    user: reissued({
      ...auth0User,
      sub: 'google-oauth2|109876543210987654321',
      email: 'alice@acme.com',
      gty: 'password',
    }),
  },
  {
    provider: 'Keycloak',
    preset: 'keycloak',
    service: reissued(keycloakServiceAccount),
    rule: 'keycloak-service-account',
    user: reissued(keycloakUser),
  },
  {
    provider: 'Google',
    preset: 'generic',
    service: reissued(googleServiceAccount),
    rule: 'google-service-account',
    user: reissued(googleUser),
  },
  {
    provider: 'generic, no sub',
    preset: 'generic',
    service: reissued(withoutClaim(rfc9068ClientCredentials, 'sub')),
    rule: 'missing-subject',
    user: {},
  },
  {
    provider: 'generic RFC 9068, sub equal to client_id',
    preset: 'generic',
    service: reissued(rfc9068ClientCredentials),
    rule: 'subject-is-client',
    user: { client_id: 'ai-chat-web' },
  },
];

function serviceTokenFor(rule: string): Claims {
  const found = PROVIDERS.find((entry) => entry.rule === rule);
  if (found === undefined) throw new Error(`no provider case for rule ${rule}`);
  return found.service;
}

const authorizeEvents = (audit: MemoryAuditSink): AuditEvent[] =>
  audit.events.filter((event) => event.action === 'authorize');

describe.each(EXPRESS_VERSIONS)('service accounts on %s', (_name, express) => {
  const options = (extra: Partial<AuthenticateOptions> = {}): AuthenticateOptions => ({
    issuer: idp.issuer,
    audience: TEST_AUDIENCE,
    jwksUri: idp.jwksUri,
    ...extra,
  });

  describe.each(PROVIDERS.map((entry) => [entry.provider, entry] as const))(
    '%s',
    (_provider, { preset, service, rule, user }) => {
      test(`a service token is refused with 403 service_account_refused (rule ${rule})`, async () => {
        const audit = createMemoryAuditSink();
        const agent = await serve(buildApp(express, options({ audit, preset })));
        const res = await agent
          .post('/ai/chat')
          .set('Authorization', `Bearer ${await idp.sign(service)}`);
        expectRefusal(res, { status: 403, code: 'service_account_refused' });
        expect(authorizeEvents(audit)).toEqual([
          expect.objectContaining({
            outcome: 'denied',
            reason: 'service_account_refused',
            status: 403,
            kind: 'service',
            resource: 'POST /ai/chat',
            details: expect.objectContaining({ rule }),
          }),
        ]);
        // Authentication itself succeeded: the refusal is the route guard's, and it is the
        // request's one event (the guard's decision supersedes the authentication's).
        expect(audit.events).toHaveLength(1);
      });

      test("the same provider's user token gets through", async () => {
        const audit = createMemoryAuditSink();
        const agent = await serve(buildApp(express, options({ audit, preset })));
        const res = await agent
          .post('/ai/chat')
          .set('Authorization', `Bearer ${await idp.sign(user)}`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ answer: 'ok' });
        expect(authorizeEvents(audit)).toEqual([
          expect.objectContaining({ outcome: 'allowed', reason: 'ok', kind: 'user' }),
        ]);
      });
    },
  );

  test('the identity of a service token says which rule matched', async () => {
    const agent = await serve(
      buildApp(express, options({ audit: createMemoryAuditSink(), preset: 'okta' })),
    );
    const token = await idp.sign(serviceTokenFor('okta-client-credentials'));
    const res = await agent.get('/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect((res.body as { identity: unknown }).identity).toMatchObject({
      kind: 'service',
      serviceAccountRule: 'okta-client-credentials',
      subject: OKTA_CLIENT,
      clientId: OKTA_CLIENT,
    });
  });

  describe('requireUser({ dangerouslyAllowServiceAccounts })', () => {
    test('true lets a service token through, and the audit still records the service kind', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(
        buildApp(express, options({ audit }), { dangerouslyAllowServiceAccounts: true }),
      );
      const token = await idp.sign(serviceTokenFor('auth0-client-credentials'));
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(200);
      expect(authorizeEvents(audit)).toEqual([
        expect.objectContaining({
          outcome: 'allowed',
          kind: 'service',
          subject: `${AUTH0_CLIENT}@clients`,
        }),
      ]);
    });

    test('false is the default: the same token is refused', async () => {
      const agent = await serve(
        buildApp(express, options({ audit: createMemoryAuditSink() }), {
          dangerouslyAllowServiceAccounts: false,
        }),
      );
      const token = await idp.sign(serviceTokenFor('auth0-client-credentials'));
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
      expectRefusal(res, { status: 403, code: 'service_account_refused' });
    });
  });

  describe('authenticate({ serviceAccounts })', () => {
    test('denyPatterns blocks a shared account no built-in rule recognises, and only that one', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(
        buildApp(
          express,
          options({ audit, serviceAccounts: { denyPatterns: ['*ai-service-account*'] } }),
        ),
      );
      const shared = await idp.sign({ sub: 'u-4711', preferred_username: 'ai-service-account' });
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${shared}`);
      expectRefusal(res, { status: 403, code: 'service_account_refused' });
      expect(authorizeEvents(audit)).toEqual([
        expect.objectContaining({
          outcome: 'denied',
          reason: 'service_account_refused',
          kind: 'service',
          user: 'ai-service-account',
          details: expect.objectContaining({ rule: 'deny-list' }),
        }),
      ]);
      const alice = await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
      expect(alice.status).toBe(200);
    });

    test('without a deny list, the same shared account passes as a user', async () => {
      const agent = await serve(buildApp(express, options({ audit: createMemoryAuditSink() })));
      const shared = await idp.sign({ sub: 'u-4711', preferred_username: 'ai-service-account' });
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${shared}`);
      expect(res.status).toBe(200);
    });

    test('denySubjects blocks exact subjects, ignoring case', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(
        buildApp(
          express,
          options({ audit, serviceAccounts: { denySubjects: ['Shared-Reporting'] } }),
        ),
      );
      const res = await agent
        .post('/ai/chat')
        .set(
          'Authorization',
          `Bearer ${await idp.sign({ sub: 'shared-reporting', preferred_username: undefined })}`,
        );
      expectRefusal(res, { status: 403, code: 'service_account_refused' });
      expect(authorizeEvents(audit)[0]?.details).toMatchObject({ rule: 'deny-list' });
    });

    test('disableRules switches one rule off: a cid token without uid then passes', async () => {
      // Okta-shaped (cid, scp array) but with sub !== cid: only the okta rule recognises it.
      const cidToken = reissued(withoutClaim(oktaUser, 'uid'));
      const strict = await serve(
        buildApp(express, options({ audit: createMemoryAuditSink(), preset: 'okta' })),
      );
      expectRefusal(
        await strict.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign(cidToken)}`),
        { status: 403, code: 'service_account_refused' },
      );
      const audit = createMemoryAuditSink();
      const relaxed = await serve(
        buildApp(
          express,
          options({
            audit,
            preset: 'okta',
            serviceAccounts: { disableRules: ['okta-client-credentials'] },
          }),
        ),
      );
      const res = await relaxed
        .post('/ai/chat')
        .set('Authorization', `Bearer ${await idp.sign(cidToken)}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ user: 'alice@example.com' });
      expect(authorizeEvents(audit)).toEqual([
        expect.objectContaining({ outcome: 'allowed', kind: 'user' }),
      ]);
    });

    test('disabling the Okta rule still refuses a client-credentials token (sub === cid)', async () => {
      const audit = createMemoryAuditSink();
      const agent = await serve(
        buildApp(
          express,
          options({
            audit,
            preset: 'okta',
            serviceAccounts: { disableRules: ['okta-client-credentials'] },
          }),
        ),
      );
      const token = await idp.sign(serviceTokenFor('okta-client-credentials'));
      const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
      expectRefusal(res, { status: 403, code: 'service_account_refused' });
      expect(authorizeEvents(audit)[0]?.details).toMatchObject({ rule: 'subject-is-client' });
    });

    test('an unknown rule name in disableRules is a TypeError at startup naming the option', () => {
      const start = () =>
        authenticate(
          options({
            audit: createMemoryAuditSink(),
            serviceAccounts: { disableRules: ['okta-client-credential'] },
          }),
        );
      expect(start).toThrow(TypeError);
      expect(start).toThrow(/^authenticate: option "serviceAccounts\.disableRules\.0"/);
      expect(start).toThrow(/okta-client-credentials/);
    });
  });

  test('a delegated token (act names the agent) passes, and the audit records the actor', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(buildApp(express, options({ audit })));
    const token = await idp.sign({ sub: 'user-alice', azp: 'ai-agent', act: { sub: 'ai-agent' } });
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ answer: 'ok', user: 'alice' });
    expect(authorizeEvents(audit)).toEqual([
      expect.objectContaining({
        outcome: 'allowed',
        kind: 'user',
        subject: 'user-alice',
        user: 'alice',
        actor: 'ai-agent',
      }),
    ]);
  });
});
