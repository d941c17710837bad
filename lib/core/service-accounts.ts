import type { Claims } from './claims.js';

/** What a service-account rule looks at: the raw claims plus the mapped user fields. */
export interface ServiceAccountInput {
  readonly claims: Claims;
  readonly subject: string | undefined;
  readonly username: string | undefined;
  readonly email: string | undefined;
  readonly clientId: string | undefined;
}

/**
 * One named, documented test that recognises a credential held by an application rather than
 * a person. The name appears in audit events and error details, so it must stay stable.
 */
export interface ServiceAccountRule {
  readonly name: string;
  readonly description: string;
  matches(input: ServiceAccountInput): boolean;
}

const str = (claims: Claims, name: string): string | undefined => {
  const value = claims[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

const hasScopes = (claims: Claims): boolean =>
  (typeof claims['scp'] === 'string' && claims['scp'].length > 0) ||
  (Array.isArray(claims['scp']) && claims['scp'].length > 0);

/**
 * The built-in rules, on by default. Each reads only claims about the subject, so a user's
 * token that names an agent in `act` or `azp` stays a user token.
 */
export const SERVICE_ACCOUNT_RULES = Object.freeze({
  entraAppOnly: {
    name: 'entra-app-only',
    description:
      'Entra ID app-only token: idtyp "app", or an Entra token (tid) with no delegated scopes (scp) whose oid equals sub.',
    matches: ({ claims }) => {
      if (str(claims, 'idtyp') === 'app') return true;
      const oid = str(claims, 'oid');
      return (
        str(claims, 'tid') !== undefined &&
        !hasScopes(claims) &&
        oid !== undefined &&
        oid === str(claims, 'sub')
      );
    },
  },
  oktaClientCredentials: {
    name: 'okta-client-credentials',
    description:
      'Okta client-credentials token: a cid claim with sub equal to cid, or no uid (Okta puts the user id in uid).',
    matches: ({ claims }) => {
      const cid = str(claims, 'cid');
      if (cid === undefined) return false;
      return str(claims, 'sub') === cid || !Object.hasOwn(claims, 'uid');
    },
  },
  auth0ClientCredentials: {
    name: 'auth0-client-credentials',
    description:
      'Auth0 machine-to-machine token: gty "client-credentials" (or "client_credentials"), or sub ending in "@clients".',
    matches: ({ claims }) => {
      const gty = claims['gty'];
      const grants = Array.isArray(gty) ? gty : [gty];
      if (grants.some((grant) => grant === 'client-credentials' || grant === 'client_credentials'))
        return true;
      return str(claims, 'sub')?.endsWith('@clients') ?? false;
    },
  },
  keycloakServiceAccount: {
    name: 'keycloak-service-account',
    description:
      'Keycloak service-account token: preferred_username starting "service-account-", or the clientHost/clientAddress claims Keycloak adds only to service-account tokens.',
    matches: ({ claims }) =>
      (str(claims, 'preferred_username')?.startsWith('service-account-') ?? false) ||
      Object.hasOwn(claims, 'clientHost') ||
      Object.hasOwn(claims, 'clientAddress'),
  },
  googleServiceAccount: {
    name: 'google-service-account',
    description: 'Google Cloud service account: an email ending in ".gserviceaccount.com".',
    matches: ({ claims, email }) =>
      [email, str(claims, 'email')].some(
        (value) => value?.toLowerCase().endsWith('.gserviceaccount.com') ?? false,
      ),
  },
  missingSubject: {
    name: 'missing-subject',
    description: 'No subject at all: nobody to act for.',
    matches: ({ subject }) => subject === undefined,
  },
  subjectIsClient: {
    name: 'subject-is-client',
    description:
      'The subject is the client itself (sub equals azp, client_id, appid or cid): the client-credentials grant.',
    matches: ({ claims, subject, clientId }) =>
      subject !== undefined &&
      (subject === clientId ||
        ['azp', 'client_id', 'appid', 'cid'].some((name) => str(claims, name) === subject)),
  },
} satisfies Record<string, ServiceAccountRule>);

/** The rules applied when none are configured, in the order they are tried. */
export const DEFAULT_SERVICE_ACCOUNT_RULES: readonly ServiceAccountRule[] = Object.freeze(
  Object.values(SERVICE_ACCOUNT_RULES),
);

/** The shared accounts an organisation knows by name or pattern (see {@link denyListRule}). */
export interface DenyListOptions {
  /** Exact subjects, usernames or emails of shared accounts (compared case-insensitively). */
  subjects?: readonly string[];
  /** Patterns: a string with `*` wildcards (`svc-*`, `*ai-service-account*`), or a RegExp. */
  patterns?: readonly (string | RegExp)[];
}

/**
 * A rule for accounts an organisation knows to be shared (`ai-service-account`, `svc-*`):
 * matched against the subject, username, email and `preferred_username`.
 */
export function denyListRule(options: DenyListOptions): ServiceAccountRule {
  const subjects = new Set((options.subjects ?? []).map((value) => value.toLowerCase()));
  const patterns = (options.patterns ?? []).map(toRegExp);
  return Object.freeze({
    name: 'deny-list',
    description: 'A subject, username or email on the configured list of shared accounts.',
    matches: ({ claims, subject, username, email }: ServiceAccountInput) =>
      [subject, username, email, str(claims, 'preferred_username')].some(
        (value) =>
          value !== undefined &&
          (subjects.has(value.toLowerCase()) || patterns.some((pattern) => pattern.test(value))),
      ),
  });
}

function toRegExp(pattern: string | RegExp): RegExp {
  // A shared rule must be stateless: the g and y flags make test() remember lastIndex, so the
  // same account would match on one request and not on the next.
  if (pattern instanceof RegExp)
    return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

/** The first rule that recognises a service account, or undefined for a user. */
export function findServiceAccountRule(
  input: ServiceAccountInput,
  rules: readonly ServiceAccountRule[],
): ServiceAccountRule | undefined {
  return rules.find((rule) => rule.matches(input));
}
