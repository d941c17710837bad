import type { Claims } from '../../core/claims.js';
import { SERVICE_ACCOUNT_RULES, denyListRule } from '../../core/service-accounts.js';
import { bounded } from './token-view.js';

/** Who the service-account rules looked at: the mapped fields beside the raw claims. */
export interface RuleSubject {
  readonly subject: string | undefined;
  readonly username: string | undefined;
  readonly email: string | undefined;
  readonly clientId: string | undefined;
}

const text = (claims: Claims, name: string): string | undefined => {
  const value = claims[name];
  return typeof value === 'string' && value.length > 0 ? bounded(value, 100) : undefined;
};

/**
 * Why a built-in service-account rule matched this token, in terms of its claims: the value
 * that made it match (`gty is "client-credentials"`, `sub equals client_id "reporting-app"`).
 * For a rule of the application's own, its description is all there is to say.
 *
 * @example
 * ```ts
 * ruleEvidence('subject-is-client', { sub: 'app-1', client_id: 'app-1' }, fields, []);
 * // 'sub equals client_id ("app-1"): the client-credentials grant'
 * ```
 */
export function ruleEvidence(
  rule: string,
  claims: Claims,
  fields: RuleSubject,
  denyPatterns: readonly (string | RegExp)[],
): string {
  switch (rule) {
    case SERVICE_ACCOUNT_RULES.entraAppOnly.name:
      return text(claims, 'idtyp') === 'app'
        ? 'idtyp is "app": an Entra ID app-only token'
        : 'an Entra ID token (tid) without delegated scopes (scp) whose oid equals sub: app-only';
    case SERVICE_ACCOUNT_RULES.oktaClientCredentials.name:
      return text(claims, 'sub') === text(claims, 'cid')
        ? `sub equals cid ("${text(claims, 'cid') ?? ''}"): an Okta client-credentials token`
        : `cid "${text(claims, 'cid') ?? ''}" and no uid claim: an Okta client-credentials token`;
    case SERVICE_ACCOUNT_RULES.auth0ClientCredentials.name:
      return claims['gty'] !== undefined
        ? 'gty says "client-credentials": an Auth0 machine-to-machine token'
        : `sub "${text(claims, 'sub') ?? ''}" ends with "@clients": an Auth0 machine-to-machine token`;
    case SERVICE_ACCOUNT_RULES.keycloakServiceAccount.name:
      return text(claims, 'preferred_username')?.startsWith('service-account-') === true
        ? `preferred_username "${text(claims, 'preferred_username') ?? ''}" starts with "service-account-"`
        : 'clientHost/clientAddress claims, which Keycloak adds only to service-account tokens';
    case SERVICE_ACCOUNT_RULES.googleServiceAccount.name:
      return `the email ends with ".gserviceaccount.com"`;
    case SERVICE_ACCOUNT_RULES.missingSubject.name:
      return 'no subject (sub) at all: nobody to act for';
    case SERVICE_ACCOUNT_RULES.subjectIsClient.name:
      return subjectIsClient(claims, fields);
    case 'deny-list':
      return denyListed(claims, fields, denyPatterns);
    default:
      return "a rule of the application's own (serviceAccounts.rules)";
  }
}

function subjectIsClient(claims: Claims, fields: RuleSubject): string {
  const claim =
    ['azp', 'client_id', 'appid', 'cid'].find((name) => text(claims, name) === fields.subject) ??
    'the client id';
  return `sub equals ${claim} ("${bounded(fields.subject ?? '', 100)}"): the token was issued to an application (client credentials), not to a person`;
}

// Which of the fields the deny list compares matched, so the operator sees the value to look for.
function denyListed(
  claims: Claims,
  fields: RuleSubject,
  patterns: readonly (string | RegExp)[],
): string {
  const rule = denyListRule({ patterns });
  const candidates: [string, string | undefined][] = [
    ['sub', fields.subject],
    ['username', fields.username],
    ['email', fields.email],
    ['preferred_username', text(claims, 'preferred_username')],
  ];
  const hit = candidates.find(
    ([, value]) =>
      value !== undefined &&
      rule.matches({
        claims: {},
        subject: value,
        username: undefined,
        email: undefined,
        clientId: undefined,
      }),
  );
  return hit === undefined
    ? 'the subject, username or email is on the list of shared accounts (serviceAccounts.denySubjects)'
    : `${hit[0]} "${bounded(hit[1] ?? '', 100)}" matches a pattern of serviceAccounts.denyPatterns (IDENTITY_SERVICE_ACCOUNT_DENY)`;
}
