import {
  authenticate,
  createMemoryAuditSink,
  type AuditEvent,
  type AuthenticateOptions,
  type ClaimPresetName,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import {
  createTestIssuer,
  TEST_AUDIENCE,
  type Claims,
  type TestIssuer,
} from '../helpers/test-issuer.js';

let idp: TestIssuer;

beforeAll(async () => {
  idp = await createTestIssuer();
});
afterAll(async () => {
  await closeServers();
  await idp.close();
});

// The test issuer's defaults describe a person (alice); an application's token has none of it.
const NO_PERSON: Claims = {
  preferred_username: undefined,
  email: undefined,
  name: undefined,
  scope: undefined,
};

const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ENTRA_CLIENT = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const ENTRA_SP_OID = 'a7c8b9d0-1e2f-4a3b-8c4d-5e6f7a8b9c0d';
const OKTA_CLIENT = '0oa3z7y6ldUKGwWpl5d7';
const AUTH0_CLIENT = 'Wq6vNm4oMkUqT2dX9sYc3bF8hJ1kL0pZ';

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
    service: {
      ...NO_PERSON,
      sub: ENTRA_SP_OID,
      oid: ENTRA_SP_OID,
      tid: ENTRA_TENANT,
      azp: ENTRA_CLIENT,
      azpacr: '1',
      idtyp: 'app',
      roles: ['Orders.Read.All'],
      ver: '2.0',
    },
    rule: 'entra-app-only',
    user: {
      ...NO_PERSON,
      sub: 'l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA',
      oid: '00000000-0000-0000-66f3-3332eca7ea81',
      tid: ENTRA_TENANT,
      azp: ENTRA_CLIENT,
      azpacr: '0',
      name: 'Alice Example',
      preferred_username: 'alice@contoso.com',
      scp: 'access_as_user',
      ver: '2.0',
    },
  },
  {
    provider: 'Entra ID v1 (no idtyp)',
    preset: 'entra',
    service: {
      ...NO_PERSON,
      sub: ENTRA_SP_OID,
      oid: ENTRA_SP_OID,
      tid: ENTRA_TENANT,
      appid: ENTRA_CLIENT,
      appidacr: '1',
      roles: ['Orders.Read.All'],
      ver: '1.0',
    },
    rule: 'entra-app-only',
    user: {
      ...NO_PERSON,
      sub: 'pZq9h3fQm2y8Xw5nB7cR1tLkJ0sVdE4aGuHiOyT6eMw',
      oid: '00000000-0000-0000-66f3-3332eca7ea81',
      tid: ENTRA_TENANT,
      appid: ENTRA_CLIENT,
      appidacr: '0',
      scp: 'user_impersonation',
      upn: 'alice@contoso.com',
      unique_name: 'alice@contoso.com',
      ver: '1.0',
    },
  },
  {
    provider: 'Okta',
    preset: 'okta',
    service: { ...NO_PERSON, ver: 1, cid: OKTA_CLIENT, sub: OKTA_CLIENT, scp: ['orders.read'] },
    rule: 'okta-client-credentials',
    user: {
      ...NO_PERSON,
      ver: 1,
      cid: OKTA_CLIENT,
      uid: '00u1a2b3c4D5e6F7g8h9',
      sub: 'alice@example.com',
      scp: ['openid', 'profile', 'orders.read'],
    },
  },
  {
    provider: 'Auth0 (gty client-credentials)',
    preset: 'auth0',
    service: {
      ...NO_PERSON,
      sub: `${AUTH0_CLIENT}@clients`,
      azp: AUTH0_CLIENT,
      gty: 'client-credentials',
      scope: 'read:orders',
    },
    rule: 'auth0-client-credentials',
    user: {
      ...NO_PERSON,
      sub: 'auth0|64f1c2d3e4b5a6978899aabb',
      azp: 'k2Jd8sQf0pLm3nB5vC7xZ9aW1eR4tY6u',
      scope: 'openid profile email read:orders',
      permissions: ['read:orders'],
    },
  },
  {
    provider: 'Auth0 (gty client_credentials)',
    preset: 'auth0',
    service: {
      ...NO_PERSON,
      sub: 'svc-exporter',
      azp: AUTH0_CLIENT,
      gty: 'client_credentials',
      scope: 'read:orders',
    },
    rule: 'auth0-client-credentials',
    user: {
      ...NO_PERSON,
      sub: 'google-oauth2|109876543210987654321',
      email: 'alice@acme.com',
      azp: 'k2Jd8sQf0pLm3nB5vC7xZ9aW1eR4tY6u',
      gty: 'password',
      scope: 'openid email read:orders',
    },
  },
  {
    provider: 'Keycloak',
    preset: 'keycloak',
    service: {
      ...NO_PERSON,
      sub: '7a3c1f0e-9b2d-4e8a-b5c6-0d1e2f3a4b5c',
      typ: 'Bearer',
      azp: 'reporting-bot',
      realm_access: { roles: ['offline_access', 'default-roles-acme'] },
      scope: 'profile email',
      clientHost: '10.0.4.17',
      preferred_username: 'service-account-reporting-bot',
      clientAddress: '10.0.4.17',
      client_id: 'reporting-bot',
    },
    rule: 'keycloak-service-account',
    user: {
      sub: 'f4d2a1b7-3c6e-4f8a-9b1d-2e5c7a9b3d60',
      typ: 'Bearer',
      azp: 'ai-chat-web',
      realm_access: { roles: ['sales_readonly', 'default-roles-acme'] },
      scope: 'openid profile email',
      preferred_username: 'alice',
      email: 'alice@acme.com',
    },
  },
  {
    provider: 'Google',
    preset: 'generic',
    service: {
      ...NO_PERSON,
      sub: '113774264463038321964',
      azp: '113774264463038321964',
      email: 'reporting@acme-prod.iam.gserviceaccount.com',
      email_verified: true,
    },
    rule: 'google-service-account',
    user: {
      ...NO_PERSON,
      sub: '110169484474386276334',
      azp: '407408718192-f0q1m2n3b4v5c6x7z8l9k0j1h2g3f4d5.apps.googleusercontent.com',
      email: 'alice@acme.com',
      email_verified: true,
      hd: 'acme.com',
    },
  },
  {
    provider: 'generic, no sub',
    preset: 'generic',
    service: { ...NO_PERSON, sub: undefined, client_id: 'batch-job', scope: 'orders.read' },
    rule: 'missing-subject',
    user: {},
  },
  {
    provider: 'generic RFC 9068, sub equal to client_id',
    preset: 'generic',
    service: { ...NO_PERSON, sub: 'ai-backend', client_id: 'ai-backend', scope: 'orders.read' },
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
        // Authentication itself succeeded: the refusal is the route guard's.
        expect(audit.events[0]).toMatchObject({
          action: 'authenticate',
          outcome: 'allowed',
          kind: 'service',
        });
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
      const cidToken = {
        ...NO_PERSON,
        ver: 1,
        cid: OKTA_CLIENT,
        sub: 'alice@example.com',
        scp: ['orders.read'],
      };
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
