import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  SERVICE_ACCOUNT_RULES,
  denyListRule,
  type ClaimPresetName,
  type ServiceAccountInput,
} from '../../lib/index.js';
import type { Claims } from '../../lib/core/claims.js';
import { createIdentityMapper } from '../../lib/core/identity-mapping.js';
import { findServiceAccountRule } from '../../lib/core/service-accounts.js';

// The fields a rule sees, computed by the same mapper production uses for the issuer's preset.
function inputFor(claims: Claims, preset: ClaimPresetName = 'generic'): ServiceAccountInput {
  const mapped = createIdentityMapper({ preset }).map(claims);
  return {
    claims,
    subject: mapped.subject,
    username: mapped.username,
    email: mapped.email,
    clientId: mapped.clientId,
  };
}

const classify = (claims: Claims, preset: ClaimPresetName = 'generic'): string | undefined =>
  findServiceAccountRule(inputFor(claims, preset), DEFAULT_SERVICE_ACCOUNT_RULES)?.name;

const IAT = 1_716_239_022;
const EXP = IAT + 3_600;

// Entra ID ---------------------------------------------------------------------------------
const ENTRA_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const ENTRA_CLIENT = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const ENTRA_SP_OID = 'a7c8b9d0-1e2f-4a3b-8c4d-5e6f7a8b9c0d';
const ENTRA_V2_ISS = `https://login.microsoftonline.com/${ENTRA_TENANT}/v2.0`;
const ENTRA_V1_ISS = `https://sts.windows.net/${ENTRA_TENANT}/`;

const entraV2AppOnly: Claims = {
  aud: 'api://ai-assistant',
  iss: ENTRA_V2_ISS,
  iat: IAT,
  nbf: IAT,
  exp: EXP,
  aio: 'E2ZgYJg8ZbHr6Tnx2Mfq7WJt8RvJAA==',
  azp: ENTRA_CLIENT,
  azpacr: '1',
  idtyp: 'app',
  oid: ENTRA_SP_OID,
  rh: '0.AXEAv4j5cvGGr0GRqy180BHbR2sXdG5WvkNIn_TmajmbEuNxAAA.',
  roles: ['Orders.Read.All'],
  sub: ENTRA_SP_OID,
  tid: ENTRA_TENANT,
  uti: 'fqiBqXLPj0eQa82S-IYFAA',
  ver: '2.0',
};

const entraV1AppOnly: Claims = {
  aud: 'api://ai-assistant',
  iss: ENTRA_V1_ISS,
  iat: IAT,
  nbf: IAT,
  exp: EXP,
  aio: 'E2ZgYFh+u7H3lC8uWv1p1m9ZbZ7AAQ==',
  appid: ENTRA_CLIENT,
  appidacr: '1',
  idp: ENTRA_V1_ISS,
  oid: ENTRA_SP_OID,
  rh: '0.AXEAv4j5cvGGr0GRqy180BHbR2sXdG5WvkNIn_TmajmbEuNxAAA.',
  roles: ['Orders.Read.All'],
  sub: ENTRA_SP_OID,
  tid: ENTRA_TENANT,
  uti: 'kXc1b2LPj0eQa82S-IYFAA',
  ver: '1.0',
};

// Without the optional idtyp claim an app-only token is still recognisable: tid, oid === sub,
// app roles and no delegated scp.
const withoutIdtyp = (claims: Claims): Claims =>
  Object.fromEntries(Object.entries(claims).filter(([name]) => name !== 'idtyp'));

const entraV2Delegated: Claims = {
  aud: 'api://ai-assistant',
  iss: ENTRA_V2_ISS,
  iat: IAT,
  nbf: IAT,
  exp: EXP,
  aio: 'AWQAm/8WAAAAsBnM3Cy0Ta1rMYh0ZcSnEc6jKu0s1KlfbHd1',
  azp: ENTRA_CLIENT,
  azpacr: '0',
  name: 'Alice Example',
  oid: '00000000-0000-0000-66f3-3332eca7ea81',
  preferred_username: 'alice@contoso.com',
  rh: '0.AXEAv4j5cvGGr0GRqy180BHbR2sXdG5WvkNIn_TmajmbEuNxAGo.',
  roles: ['Sales.Reader'],
  scp: 'access_as_user',
  sid: '0f7a5c2b-4a4b-4f58-9d77-0f1c4b3e7a21',
  sub: 'l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA',
  tid: ENTRA_TENANT,
  uti: 'Mq9mP4hYrUGSd1yCjKz4AA',
  ver: '2.0',
};

const entraV1Delegated: Claims = {
  aud: 'api://ai-assistant',
  iss: ENTRA_V1_ISS,
  iat: IAT,
  nbf: IAT,
  exp: EXP,
  acr: '1',
  aio: 'ASQA2/8WAAAAr1rE3pZ5h9yVZb0qj2S1VbJdzS5tKkK5mR0=',
  amr: ['pwd', 'mfa'],
  appid: ENTRA_CLIENT,
  appidacr: '0',
  family_name: 'Example',
  given_name: 'Alice',
  idtyp: 'user',
  ipaddr: '203.0.113.24',
  name: 'Alice Example',
  oid: '00000000-0000-0000-66f3-3332eca7ea81',
  rh: '0.AXEAv4j5cvGGr0GRqy180BHbR2sXdG5WvkNIn_TmajmbEuNxAGo.',
  scp: 'user_impersonation',
  sub: 'pZq9h3fQm2y8Xw5nB7cR1tLkJ0sVdE4aGuHiOyT6eMw',
  tid: ENTRA_TENANT,
  unique_name: 'alice@contoso.com',
  upn: 'alice@contoso.com',
  uti: 'b8Rz1kWqXE2Z3uP9y0lQAA',
  ver: '1.0',
};

// Okta -------------------------------------------------------------------------------------
const OKTA_ISS = 'https://dev-133337.okta.com/oauth2/default';
const OKTA_CLIENT = '0oa3z7y6ldUKGwWpl5d7';

const oktaClientCredentials: Claims = {
  ver: 1,
  jti: 'AT.5RwTZ0qQeQK5bQ0RqWw8tX0bYkG1gJm3nT2Z8aQHb7s',
  iss: OKTA_ISS,
  aud: 'api://default',
  iat: IAT,
  exp: EXP,
  cid: OKTA_CLIENT,
  scp: ['orders.read'],
  sub: OKTA_CLIENT,
};

const oktaUser: Claims = {
  ver: 1,
  jti: 'AT.9eWJkQ2mZ0bV7xYtR4uI1oP3aS6dF8gH0jK2lZ5xC7v',
  iss: OKTA_ISS,
  aud: 'api://default',
  iat: IAT,
  exp: EXP,
  cid: OKTA_CLIENT,
  uid: '00u1a2b3c4D5e6F7g8h9',
  scp: ['openid', 'profile', 'email', 'orders.read'],
  auth_time: IAT - 60,
  sub: 'alice@example.com',
  groups: ['Everyone', 'Sales-Team'],
};

// Auth0 ------------------------------------------------------------------------------------
const AUTH0_ISS = 'https://acme.eu.auth0.com/';
const AUTH0_CLIENT = 'Wq6vNm4oMkUqT2dX9sYc3bF8hJ1kL0pZ';

const auth0M2M: Claims = {
  iss: AUTH0_ISS,
  sub: `${AUTH0_CLIENT}@clients`,
  aud: 'https://api.acme.com',
  iat: IAT,
  exp: EXP,
  scope: 'read:orders',
  gty: 'client-credentials',
  azp: AUTH0_CLIENT,
};

const auth0User: Claims = {
  iss: AUTH0_ISS,
  sub: 'auth0|64f1c2d3e4b5a6978899aabb',
  aud: ['https://api.acme.com', 'https://acme.eu.auth0.com/userinfo'],
  iat: IAT,
  exp: EXP,
  scope: 'openid profile email read:orders',
  azp: 'k2Jd8sQf0pLm3nB5vC7xZ9aW1eR4tY6u',
  permissions: ['read:orders'],
};

// Keycloak ---------------------------------------------------------------------------------
const KEYCLOAK_ISS = 'https://sso.acme.com/realms/acme';

// Keycloak 25+: the service_account client scope adds client_id, clientHost, clientAddress.
const keycloakServiceAccount: Claims = {
  exp: EXP,
  iat: IAT,
  jti: 'ofrtcc:1d9f0c3a-5b7e-4c2d-8a6f-2e4b9c1d7f30',
  iss: KEYCLOAK_ISS,
  aud: 'account',
  sub: '7a3c1f0e-9b2d-4e8a-b5c6-0d1e2f3a4b5c',
  typ: 'Bearer',
  azp: 'reporting-bot',
  acr: '1',
  'allowed-origins': ['/*'],
  realm_access: { roles: ['offline_access', 'default-roles-acme', 'uma_authorization'] },
  resource_access: { account: { roles: ['manage-account', 'view-profile'] } },
  scope: 'profile email',
  email_verified: false,
  clientHost: '10.0.4.17',
  preferred_username: 'service-account-reporting-bot',
  clientAddress: '10.0.4.17',
  client_id: 'reporting-bot',
};

const keycloakUser: Claims = {
  exp: EXP,
  iat: IAT,
  auth_time: IAT - 30,
  jti: 'onrtac:3f1b2c4d-6e8f-4a1b-9c2d-7e5f3a1b9c8d',
  iss: KEYCLOAK_ISS,
  aud: 'account',
  sub: 'f4d2a1b7-3c6e-4f8a-9b1d-2e5c7a9b3d60',
  typ: 'Bearer',
  azp: 'ai-chat-web',
  sid: '2c9d7b1e-4a3f-4e6b-8d2c-1f0a9b8c7d6e',
  acr: '1',
  'allowed-origins': ['https://chat.acme.com'],
  realm_access: { roles: ['sales_readonly', 'offline_access', 'default-roles-acme'] },
  resource_access: { account: { roles: ['manage-account', 'view-profile'] } },
  scope: 'openid profile email',
  email_verified: true,
  name: 'Alice Example',
  preferred_username: 'alice',
  given_name: 'Alice',
  family_name: 'Example',
  email: 'alice@acme.com',
};

// Google -----------------------------------------------------------------------------------
const GOOGLE_SA_ID = '113774264463038321964';

// An ID token Google mints for a service account (metadata server, generateIdToken).
const googleServiceAccount: Claims = {
  aud: 'https://ai-assistant.acme.com',
  azp: GOOGLE_SA_ID,
  email: 'reporting@acme-prod.iam.gserviceaccount.com',
  email_verified: true,
  exp: EXP,
  iat: IAT,
  iss: 'https://accounts.google.com',
  sub: GOOGLE_SA_ID,
};

const googleUser: Claims = {
  iss: 'https://accounts.google.com',
  azp: '407408718192-f0q1m2n3b4v5c6x7z8l9k0j1h2g3f4d5.apps.googleusercontent.com',
  aud: '407408718192-f0q1m2n3b4v5c6x7z8l9k0j1h2g3f4d5.apps.googleusercontent.com',
  sub: '110169484474386276334',
  hd: 'acme.com',
  email: 'alice@acme.com',
  email_verified: true,
  at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
  name: 'Alice Example',
  picture: 'https://lh3.googleusercontent.com/a/default-user=s96-c',
  given_name: 'Alice',
  family_name: 'Example',
  iat: IAT,
  exp: EXP,
};

// Generic (RFC 9068) -----------------------------------------------------------------------
const rfc9068ClientCredentials: Claims = {
  iss: 'https://as.acme.com/',
  sub: 'ai-backend',
  client_id: 'ai-backend',
  aud: 'https://api.acme.com',
  scope: 'orders.read',
  iat: IAT,
  exp: EXP,
  jti: 'dbe39bf3a3ba4238a513f51d6e1691c4',
};

interface Case {
  readonly label: string;
  readonly preset: ClaimPresetName;
  readonly claims: Claims;
}

interface ServiceCase extends Case {
  readonly rule: string;
}

const SERVICE_TOKENS: readonly ServiceCase[] = [
  {
    label: 'Entra ID v2 app-only (idtyp app)',
    preset: 'entra',
    claims: entraV2AppOnly,
    rule: 'entra-app-only',
  },
  {
    label: 'Entra ID v2 app-only without idtyp',
    preset: 'entra',
    claims: withoutIdtyp(entraV2AppOnly),
    rule: 'entra-app-only',
  },
  {
    label: 'Entra ID v1 app-only (idtyp app)',
    preset: 'entra',
    claims: { ...entraV1AppOnly, idtyp: 'app' },
    rule: 'entra-app-only',
  },
  {
    label: 'Entra ID v1 app-only without idtyp',
    preset: 'entra',
    claims: entraV1AppOnly,
    rule: 'entra-app-only',
  },
  {
    label: 'Okta client credentials (sub === cid, no uid)',
    preset: 'okta',
    claims: oktaClientCredentials,
    rule: 'okta-client-credentials',
  },
  {
    label: 'Auth0 M2M, gty "client-credentials"',
    preset: 'auth0',
    claims: auth0M2M,
    rule: 'auth0-client-credentials',
  },
  {
    label: 'Auth0 M2M, gty "client_credentials" and a sub without @clients',
    preset: 'auth0',
    claims: { ...auth0M2M, gty: 'client_credentials', sub: 'svc-exporter' },
    rule: 'auth0-client-credentials',
  },
  {
    label: 'Auth0 M2M without gty (sub "...@clients")',
    preset: 'auth0',
    claims: withoutClaim(auth0M2M, 'gty'),
    rule: 'auth0-client-credentials',
  },
  {
    label: 'Keycloak service account (Keycloak 25+: client_id)',
    preset: 'keycloak',
    claims: keycloakServiceAccount,
    rule: 'keycloak-service-account',
  },
  {
    label: 'Keycloak service account (before 25: clientId)',
    preset: 'keycloak',
    claims: { ...withoutClaim(keycloakServiceAccount, 'client_id'), clientId: 'reporting-bot' },
    rule: 'keycloak-service-account',
  },
  {
    label: 'Keycloak service account with the client mappers removed',
    preset: 'keycloak',
    claims: withoutClaim(keycloakServiceAccount, 'clientHost', 'clientAddress', 'client_id'),
    rule: 'keycloak-service-account',
  },
  {
    label: 'Keycloak token with only clientAddress',
    preset: 'keycloak',
    claims: {
      ...withoutClaim(keycloakServiceAccount, 'clientHost', 'client_id'),
      preferred_username: 'reporting-bot',
    },
    rule: 'keycloak-service-account',
  },
  {
    label: 'Google service account (iam.gserviceaccount.com)',
    preset: 'generic',
    claims: googleServiceAccount,
    rule: 'google-service-account',
  },
  {
    label: 'Google App Engine default service account, upper-case email',
    preset: 'generic',
    claims: { ...googleServiceAccount, email: 'ACME-PROD@APPSPOT.GSERVICEACCOUNT.COM' },
    rule: 'google-service-account',
  },
  {
    label: 'no sub at all',
    preset: 'generic',
    claims: withoutClaim(rfc9068ClientCredentials, 'sub'),
    rule: 'missing-subject',
  },
  {
    label: 'an empty sub',
    preset: 'generic',
    claims: { ...rfc9068ClientCredentials, sub: '', client_id: 'batch-job' },
    rule: 'missing-subject',
  },
  {
    label: 'a non-string sub',
    preset: 'generic',
    claims: { ...rfc9068ClientCredentials, sub: 42, client_id: 'batch-job' },
    rule: 'missing-subject',
  },
  {
    label: 'RFC 9068 client credentials (sub === client_id)',
    preset: 'generic',
    claims: rfc9068ClientCredentials,
    rule: 'subject-is-client',
  },
  {
    label: 'sub === azp',
    preset: 'generic',
    claims: {
      ...withoutClaim(rfc9068ClientCredentials, 'client_id'),
      sub: 'batch-exporter',
      azp: 'batch-exporter',
    },
    rule: 'subject-is-client',
  },
  {
    label: 'sub === appid (Entra v1 shape, delegated scp)',
    preset: 'entra',
    claims: { ...entraV1Delegated, sub: ENTRA_CLIENT },
    rule: 'subject-is-client',
  },
];

const USER_TOKENS: readonly Case[] = [
  { label: 'Entra ID v2 delegated', preset: 'entra', claims: entraV2Delegated },
  {
    label: 'Entra ID v2 delegated with idtyp user',
    preset: 'entra',
    claims: { ...entraV2Delegated, idtyp: 'user' },
  },
  { label: 'Entra ID v1 delegated (upn, unique_name)', preset: 'entra', claims: entraV1Delegated },
  { label: 'Okta user (uid, sub = login, cid)', preset: 'okta', claims: oktaUser },
  { label: 'Auth0 database user', preset: 'auth0', claims: auth0User },
  {
    label: 'Auth0 social user, password grant',
    preset: 'auth0',
    claims: { ...auth0User, sub: 'google-oauth2|109876543210987654321', gty: 'password' },
  },
  {
    label: 'Auth0 user, refreshed password grant (gty list)',
    preset: 'auth0',
    claims: { ...auth0User, gty: ['refresh_token', 'password'] },
  },
  { label: 'Keycloak user', preset: 'keycloak', claims: keycloakUser },
  { label: 'Google user', preset: 'generic', claims: googleUser },
  {
    label: 'RFC 8693 delegated token: act names the agent, azp is the agent',
    preset: 'generic',
    claims: {
      iss: 'https://as.acme.com/',
      aud: 'https://api.acme.com',
      sub: 'user-alice',
      preferred_username: 'alice',
      email: 'alice@acme.com',
      azp: 'agent-client',
      scope: 'orders.read',
      act: { sub: 'agent-client' },
      iat: IAT,
      exp: EXP,
    },
  },
  {
    label: 'RFC 8693 delegated token: client_id is the agent, nested actors',
    preset: 'generic',
    claims: {
      iss: 'https://as.acme.com/',
      aud: 'https://api.acme.com',
      sub: 'user-alice',
      client_id: 'agent-client',
      scope: 'orders.read',
      act: { sub: 'agent-client', act: { sub: 'orchestrator' } },
      iat: IAT,
      exp: EXP,
    },
  },
];

function withoutClaim(claims: Claims, ...names: string[]): Claims {
  return Object.fromEntries(Object.entries(claims).filter(([name]) => !names.includes(name)));
}

describe('SERVICE_ACCOUNT_RULES', () => {
  test('the defaults are every built-in rule, in a stable order, with stable names', () => {
    expect(DEFAULT_SERVICE_ACCOUNT_RULES.map((rule) => rule.name)).toEqual([
      'entra-app-only',
      'okta-client-credentials',
      'auth0-client-credentials',
      'keycloak-service-account',
      'google-service-account',
      'missing-subject',
      'subject-is-client',
    ]);
    expect(DEFAULT_SERVICE_ACCOUNT_RULES).toEqual(Object.values(SERVICE_ACCOUNT_RULES));
    expect(Object.isFrozen(DEFAULT_SERVICE_ACCOUNT_RULES)).toBe(true);
    for (const rule of DEFAULT_SERVICE_ACCOUNT_RULES) {
      expect(rule.description.length).toBeGreaterThan(10);
    }
  });

  test('every built-in rule is exercised by at least one real token shape below', () => {
    const covered = new Set(SERVICE_TOKENS.map((entry) => entry.rule));
    expect([...covered].sort()).toEqual(
      DEFAULT_SERVICE_ACCOUNT_RULES.map((rule) => rule.name).sort(),
    );
  });
});

describe('findServiceAccountRule with the default rules', () => {
  describe('service tokens are recognised, by the expected rule', () => {
    test.each(SERVICE_TOKENS.map((entry) => [entry.label, entry] as const))(
      '%s',
      (_label, { claims, preset, rule }) => {
        expect(classify(claims, preset)).toBe(rule);
      },
    );

    // Classification must not hinge on the preset an application happens to pick.
    test.each(
      SERVICE_TOKENS.filter((entry) => entry.preset !== 'generic').map(
        (entry) => [entry.label, entry] as const,
      ),
    )('%s, under the generic preset', (_label, { claims, rule }) => {
      expect(classify(claims, 'generic')).toBe(rule);
    });
  });

  describe('user tokens of every provider stay users', () => {
    test.each(USER_TOKENS.map((entry) => [entry.label, entry] as const))(
      '%s',
      (_label, { claims, preset }) => {
        expect(classify(claims, preset)).toBeUndefined();
        expect(classify(claims, 'generic')).toBeUndefined();
      },
    );

    test('no single built-in rule matches any user token', () => {
      const hits = USER_TOKENS.flatMap(({ label, claims, preset }) =>
        DEFAULT_SERVICE_ACCOUNT_RULES.filter((rule) => rule.matches(inputFor(claims, preset))).map(
          (rule) => `${label}: ${rule.name}`,
        ),
      );
      expect(hits).toEqual([]);
    });
  });

  test('the mapped fields the rules see come from the preset', () => {
    expect(inputFor(entraV1Delegated, 'entra')).toMatchObject({
      subject: entraV1Delegated['sub'],
      username: 'alice@contoso.com',
      email: 'alice@contoso.com',
      clientId: ENTRA_CLIENT,
    });
    expect(inputFor(oktaClientCredentials, 'okta')).toMatchObject({
      subject: OKTA_CLIENT,
      username: OKTA_CLIENT,
      email: undefined,
      clientId: OKTA_CLIENT,
    });
  });

  describe('each rule on its own', () => {
    test('entra-app-only: delegated scp, or oid !== sub, or no tid, is not app-only', () => {
      const rule = SERVICE_ACCOUNT_RULES.entraAppOnly;
      const appOnly = withoutIdtyp(entraV2AppOnly);
      expect(rule.matches(inputFor(appOnly, 'entra'))).toBe(true);
      expect(rule.matches(inputFor({ ...appOnly, scp: 'access_as_user' }, 'entra'))).toBe(false);
      expect(rule.matches(inputFor({ ...appOnly, scp: ['Orders.Read'] }, 'entra'))).toBe(false);
      expect(rule.matches(inputFor({ ...appOnly, sub: 'another-subject' }, 'entra'))).toBe(false);
      expect(rule.matches(inputFor(withoutClaim(appOnly, 'tid'), 'entra'))).toBe(false);
      // idtyp is authoritative when present, even beside scp.
      expect(rule.matches(inputFor({ ...entraV2Delegated, idtyp: 'app' }, 'entra'))).toBe(true);
    });

    test('okta-client-credentials: a cid token is a user only with uid and sub !== cid', () => {
      const rule = SERVICE_ACCOUNT_RULES.oktaClientCredentials;
      expect(rule.matches(inputFor(oktaClientCredentials, 'okta'))).toBe(true);
      expect(rule.matches(inputFor(withoutClaim(oktaUser, 'uid'), 'okta'))).toBe(true);
      expect(
        rule.matches(inputFor({ ...oktaClientCredentials, uid: '00u1a2b3c4D5e6F7g8h9' }, 'okta')),
      ).toBe(true);
      expect(rule.matches(inputFor(oktaUser, 'okta'))).toBe(false);
      expect(rule.matches(inputFor(withoutClaim(oktaClientCredentials, 'cid'), 'okta'))).toBe(
        false,
      );
    });

    test('auth0-client-credentials: both gty spellings, gty lists, and @clients subjects', () => {
      const rule = SERVICE_ACCOUNT_RULES.auth0ClientCredentials;
      const user = inputFor(auth0User, 'auth0');
      expect(rule.matches(user)).toBe(false);
      for (const gty of ['client-credentials', 'client_credentials', ['client-credentials']]) {
        expect(rule.matches(inputFor({ ...auth0User, gty }, 'auth0'))).toBe(true);
      }
      expect(rule.matches(inputFor({ ...auth0User, sub: 'abc@clients' }, 'auth0'))).toBe(true);
      // "@clients" must end the subject; a user whose id merely contains it is a user.
      expect(rule.matches(inputFor({ ...auth0User, sub: 'auth0|x@clientsville' }, 'auth0'))).toBe(
        false,
      );
      expect(rule.matches(inputFor({ ...auth0User, gty: 'authorization_code' }, 'auth0'))).toBe(
        false,
      );
    });

    test('keycloak-service-account: the service-account- prefix or the client session notes', () => {
      const rule = SERVICE_ACCOUNT_RULES.keycloakServiceAccount;
      expect(rule.matches(inputFor(keycloakServiceAccount, 'keycloak'))).toBe(true);
      expect(rule.matches(inputFor({ ...keycloakUser, clientHost: '10.0.4.17' }, 'keycloak'))).toBe(
        true,
      );
      expect(
        rule.matches(
          inputFor({ ...keycloakUser, preferred_username: 'my-service-account-x' }, 'keycloak'),
        ),
      ).toBe(false);
      expect(rule.matches(inputFor(keycloakUser, 'keycloak'))).toBe(false);
    });

    test('google-service-account: the mapped email or the raw email claim', () => {
      const rule = SERVICE_ACCOUNT_RULES.googleServiceAccount;
      expect(rule.matches(inputFor(googleServiceAccount))).toBe(true);
      expect(
        rule.matches({
          claims: {},
          subject: 's',
          username: undefined,
          email: '123456789012-compute@developer.gserviceaccount.com',
          clientId: undefined,
        }),
      ).toBe(true);
      // A claim_mapping may point the mapped email elsewhere; the raw claim still counts.
      expect(
        rule.matches({
          claims: { email: 'reporting@acme-prod.iam.gserviceaccount.com' },
          subject: 's',
          username: undefined,
          email: 'owner@acme.com',
          clientId: undefined,
        }),
      ).toBe(true);
      expect(rule.matches(inputFor(googleUser))).toBe(false);
      expect(
        rule.matches(inputFor({ ...googleUser, email: 'x@gserviceaccount.com.evil.example' })),
      ).toBe(false);
    });

    test('missing-subject and subject-is-client read the mapped subject and client id', () => {
      expect(
        SERVICE_ACCOUNT_RULES.missingSubject.matches({
          claims: { sub: 'ignored-raw-claim' },
          subject: undefined,
          username: 'x',
          email: undefined,
          clientId: undefined,
        }),
      ).toBe(true);
      expect(SERVICE_ACCOUNT_RULES.missingSubject.matches(inputFor(keycloakUser, 'keycloak'))).toBe(
        false,
      );
      const rule = SERVICE_ACCOUNT_RULES.subjectIsClient;
      expect(
        rule.matches({
          claims: {},
          subject: 'app-1',
          username: undefined,
          email: undefined,
          clientId: 'app-1',
        }),
      ).toBe(true);
      for (const name of ['azp', 'client_id', 'appid', 'cid']) {
        expect(rule.matches(inputFor({ sub: 'app-1', [name]: 'app-1' }))).toBe(true);
      }
      expect(rule.matches(inputFor({ client_id: 'app-1' }))).toBe(false);
      expect(
        rule.matches(inputFor({ sub: 'user-alice', azp: 'app-1', act: { sub: 'user-alice' } })),
      ).toBe(false);
    });
  });

  test('the later generic rules back up the provider rules when those are switched off', () => {
    const without = (...names: string[]) =>
      DEFAULT_SERVICE_ACCOUNT_RULES.filter((rule) => !names.includes(rule.name));
    expect(
      findServiceAccountRule(
        inputFor(oktaClientCredentials, 'okta'),
        without('okta-client-credentials'),
      )?.name,
    ).toBe('subject-is-client');
    expect(
      findServiceAccountRule(inputFor(googleServiceAccount), without('google-service-account'))
        ?.name,
    ).toBe('subject-is-client');
    expect(findServiceAccountRule(inputFor(oktaUser, 'okta'), [])).toBeUndefined();
  });
});

describe('denyListRule', () => {
  const direct = (fields: Partial<ServiceAccountInput>): ServiceAccountInput => ({
    claims: {},
    subject: undefined,
    username: undefined,
    email: undefined,
    clientId: undefined,
    ...fields,
  });

  test('is named deny-list and matches nothing when empty', () => {
    const rule = denyListRule({});
    expect(rule.name).toBe('deny-list');
    expect(rule.matches(inputFor({ sub: 'ai-service-account' }))).toBe(false);
    expect(Object.isFrozen(rule)).toBe(true);
  });

  describe('subjects', () => {
    const rule = denyListRule({ subjects: ['AI-Service-Account', 'shared-reporting@acme.com'] });

    test('match the subject exactly, ignoring case', () => {
      expect(rule.matches(direct({ subject: 'ai-service-account' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'AI-SERVICE-ACCOUNT' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'ai-service-account-2' }))).toBe(false);
      expect(rule.matches(direct({ subject: 'my-ai-service-account' }))).toBe(false);
    });

    test('match the username, the email, or the raw preferred_username', () => {
      expect(rule.matches(direct({ subject: 'u-1', username: 'ai-service-account' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'u-1', email: 'Shared-Reporting@ACME.com' }))).toBe(
        true,
      );
      // Under the auth0 preset the username is the email, so only the raw claim names the account.
      const input = inputFor(
        { sub: 'auth0|123', email: 'ops@acme.com', preferred_username: 'ai-service-account' },
        'auth0',
      );
      expect(input.username).toBe('ops@acme.com');
      expect(rule.matches(input)).toBe(true);
    });

    test('leave ordinary users alone', () => {
      expect(rule.matches(inputFor(keycloakUser, 'keycloak'))).toBe(false);
      expect(rule.matches(inputFor(entraV2Delegated, 'entra'))).toBe(false);
    });
  });

  describe('wildcard patterns', () => {
    const rule = denyListRule({ patterns: ['svc-*', '*ai-service-account*', 'bot.reporter'] });

    test('a trailing * matches any suffix, anchored at the start, ignoring case', () => {
      expect(rule.matches(direct({ subject: 'svc-etl' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'SVC-ETL' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'svc-' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'my-svc-etl' }))).toBe(false);
      expect(rule.matches(direct({ subject: 'svc' }))).toBe(false);
    });

    test('* on both sides matches anywhere', () => {
      expect(rule.matches(direct({ username: 'ai-service-account' }))).toBe(true);
      expect(rule.matches(direct({ username: 'prod-ai-service-account-2' }))).toBe(true);
      expect(rule.matches(direct({ email: 'ai-service-account@acme.com' }))).toBe(true);
      expect(rule.matches(direct({ username: 'ai-service' }))).toBe(false);
    });

    test('other characters are literal, not regular-expression syntax', () => {
      expect(rule.matches(direct({ subject: 'bot.reporter' }))).toBe(true);
      expect(rule.matches(direct({ subject: 'botXreporter' }))).toBe(false);
      expect(denyListRule({ patterns: ['a+b'] }).matches(direct({ subject: 'aab' }))).toBe(false);
      expect(denyListRule({ patterns: ['a+b'] }).matches(direct({ subject: 'a+b' }))).toBe(true);
    });

    test('match on the raw preferred_username of a real Keycloak token', () => {
      const claims = { ...keycloakUser, preferred_username: 'svc-nightly' };
      expect(rule.matches(inputFor(claims, 'keycloak'))).toBe(true);
      expect(rule.matches(inputFor(keycloakUser, 'keycloak'))).toBe(false);
    });
  });

  describe('RegExp patterns', () => {
    test('keep their own flags (case-sensitive unless i)', () => {
      const exact = denyListRule({ patterns: [/^svc_[a-z]+$/] });
      expect(exact.matches(direct({ subject: 'svc_etl' }))).toBe(true);
      expect(exact.matches(direct({ subject: 'SVC_ETL' }))).toBe(false);
      const loose = denyListRule({ patterns: [/^svc_[a-z]+$/i] });
      expect(loose.matches(direct({ subject: 'SVC_ETL' }))).toBe(true);
    });

    test.each([/svc-/y, /svc-/gy])('a sticky pattern %s matches on every call', (pattern) => {
      const rule = denyListRule({ patterns: [pattern] });
      const input = direct({ subject: 'svc-etl' });
      expect([rule.matches(input), rule.matches(input), rule.matches(input)]).toEqual([
        true,
        true,
        true,
      ]);
    });

    test('a g flag never makes the same input flip between calls', () => {
      const pattern = /^svc-/g;
      const rule = denyListRule({ patterns: [pattern] });
      const input = direct({ subject: 'svc-etl' });
      expect(rule.matches(input)).toBe(true);
      expect(rule.matches(input)).toBe(true);
      expect(rule.matches(input)).toBe(true);
      // The caller's RegExp is left untouched.
      expect(pattern.lastIndex).toBe(0);
      expect(pattern.flags).toBe('g');
    });

    test('a g flag pattern does not leak state from one identity to the next', () => {
      const rule = denyListRule({ patterns: [/service/g] });
      expect(rule.matches(direct({ username: 'ai-service-account' }))).toBe(true);
      expect(rule.matches(direct({ username: 'service' }))).toBe(true);
      expect(rule.matches(direct({ username: 'alice' }))).toBe(false);
    });

    test('match on username, email and preferred_username, not on the client id', () => {
      const rule = denyListRule({ patterns: [/^etl-/] });
      expect(rule.matches(direct({ username: 'etl-nightly' }))).toBe(true);
      expect(rule.matches(direct({ email: 'etl-nightly@acme.com' }))).toBe(true);
      expect(rule.matches(direct({ claims: { preferred_username: 'etl-nightly' } }))).toBe(true);
      expect(rule.matches(direct({ clientId: 'etl-nightly' }))).toBe(false);
      expect(rule.matches(direct({ claims: { client_id: 'etl-nightly' } }))).toBe(false);
    });
  });

  test('after the defaults, catches a shared account that no built-in rule recognises', () => {
    const rules = [
      ...DEFAULT_SERVICE_ACCOUNT_RULES,
      denyListRule({ patterns: ['*ai-service-account*'] }),
    ];
    const shared = { ...keycloakUser, preferred_username: 'ai-service-account', email: undefined };
    expect(classify(shared, 'keycloak')).toBeUndefined();
    expect(findServiceAccountRule(inputFor(shared, 'keycloak'), rules)?.name).toBe('deny-list');
    expect(findServiceAccountRule(inputFor(keycloakUser, 'keycloak'), rules)).toBeUndefined();
    expect(findServiceAccountRule(inputFor(keycloakServiceAccount, 'keycloak'), rules)?.name).toBe(
      'keycloak-service-account',
    );
  });
});
