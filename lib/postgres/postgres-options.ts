import type { z } from 'zod';
import { auditOptionsShape } from '../audit/audit-options.js';
import type { Identity } from '../core/identity.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import { isSqlDatabase, type SqlDatabaseInput } from './sql-database.js';

export const userQueryShape = lazySchema((z) => {
  /** A PostgreSQL role name as written unquoted: it is still quoted as an identifier when used. */
  const roleName = z
    .string()
    .regex(
      /^[a-z_][a-z0-9_$]{0,62}$/u,
      'must be a lower-case PostgreSQL role name (a-z, 0-9, _, $)',
    );
  return {
    /** A node-postgres `Pool` (logged in as a role with no table privileges), or a PGlite. */
    database: z.custom<SqlDatabaseInput>(isSqlDatabase, {
      message: 'must be a node-postgres Pool or a PGlite instance',
    }),
    /**
     * The user's roles (after `role_mapping`) to the database role each may take, first match
     * wins: `{ sales_admin: 'app_admin', sales_readonly: 'app_sales' }`. These database roles are
     * the only ones ever set; a user with none of these roles gets no query.
     */
    roles: z
      .record(z.string().min(1), roleName)
      .refine((value) => Object.keys(value).length > 0, 'must map at least one role'),
    /** The claims policies read (`request.jwt.claims`). Default: sub, role, username, email, roles, groups, iss. */
    claims:
      functionOption<
        (identity: Identity, databaseRole: string) => Record<string, unknown>
      >().optional(),
    /**
     * Longest a statement may run (`SET LOCAL statement_timeout`). Default: 10000. PGlite, which
     * runs in this process, does not enforce it.
     */
    statementTimeoutMs: z.number().int().min(100).max(600_000).optional(),
    /** The agent acting for the user, recorded as `source`. Default: the request's, or `sql-agent`. */
    source: z.string().min(1).max(100).optional(),
    ...auditOptionsShape,
  };
});

export const userQuerySchema = lazySchema((z) => z.strictObject(userQueryShape()));

/** Options of {@link createUserQuery}. */
export type UserQueryOptions = z.input<ReturnType<typeof userQuerySchema>>;
