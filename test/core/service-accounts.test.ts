import { DEFAULT_SERVICE_ACCOUNT_RULES, SERVICE_ACCOUNT_RULES } from '../../lib/index.js';
import { findServiceAccountRule } from '../../lib/core/service-accounts.js';
import {
  auth0User,
  ENTRA_CLIENT,
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
  withoutClaim,
  withoutIdtyp,
} from '../fixtures/provider-claims.js';
import { SERVICE_TOKENS, USER_TOKENS } from '../fixtures/provider-tokens.js';
import { classify, inputFor } from '../helpers/service-account-input.js';

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
