import { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';

/**
 * The database role a person's statements run as: the first of the configured roles they hold.
 * No person, a service identity, or none of the roles: no query at all.
 */
export function databaseRoleOf(
  identity: Identity | undefined,
  roles: Readonly<Record<string, string>>,
): string {
  if (identity === undefined) {
    throw new IdentityError(
      'credentials_missing',
      "SQL runs on behalf of a person, and no signed-in user's identity was given.",
    );
  }
  if (identity.kind !== 'user') {
    throw new IdentityError(
      'service_account_refused',
      'SQL runs as a person, under their row-level security; this identity is a service account.',
      { details: { rule: identity.serviceAccountRule ?? null } },
    );
  }
  for (const [role, databaseRole] of Object.entries(roles)) {
    if (identity.roles.includes(role)) return databaseRole;
  }
  throw new IdentityError(
    'role_missing',
    'None of your roles may query this database; ask an administrator for one of them.',
    { details: { required_roles: Object.keys(roles) } },
  );
}

/** The claims PostgREST- and Supabase-style policies read, from the person's identity. */
export function defaultClaims(identity: Identity, databaseRole: string): Record<string, unknown> {
  return {
    sub: identity.subject,
    iss: identity.issuer,
    role: databaseRole,
    preferred_username: identity.username,
    ...(identity.email === undefined ? {} : { email: identity.email }),
    roles: identity.roles,
    groups: identity.groups,
  };
}
