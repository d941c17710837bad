import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  denyListRule,
  type ServiceAccountInput,
} from '../../lib/index.js';
import { findServiceAccountRule } from '../../lib/core/service-accounts.js';
import {
  entraV2Delegated,
  keycloakServiceAccount,
  keycloakUser,
} from '../fixtures/provider-claims.js';
import { classify, inputFor } from '../helpers/service-account-input.js';

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
