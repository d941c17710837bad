import { auditTrailFrom } from '../audit/audit-options.js';
import type { AuditTrail } from '../audit/auditor.js';
import { IdentityError, isIdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { parseOptions } from '../core/options.js';
import { getCurrentIdentity } from '../core/request-context.js';
import { databaseRoleOf, defaultClaims } from './database-role.js';
import { userQuerySchema, type UserQueryOptions } from './postgres-options.js';
import { recordSqlEvent } from './sql-audit.js';
import { checkStatement, loadSqlParser, type CheckedStatement } from './sql-check.js';
import { sqlDatabaseOf, type SqlDatabase, type SqlResult } from './sql-database.js';
import { databaseFailure } from './database-errors.js';

/** How one call runs. */
export interface UserQueryCallOptions {
  /** Default: true. A read-only call refuses any write, and runs in a READ ONLY transaction. */
  readonly readOnly?: boolean;
  /** The person to run as. Default: the current request's (`getCurrentIdentity()`). */
  readonly identity?: Identity;
}

/** A statement's answer, and what the check made of it. */
export interface UserQueryResult extends SqlResult {
  readonly action: string;
  readonly tables: readonly string[];
}

/** Runs an agent's SQL as the signed-in person. See {@link createUserQuery}. */
export interface UserQuery {
  query(
    sql: string,
    params?: readonly unknown[],
    options?: UserQueryCallOptions,
  ): Promise<UserQueryResult>;
  /** Loads the SQL parser now (WebAssembly), so that the first query does not wait for it. */
  warm(): Promise<void>;
}

interface Settings {
  readonly database: SqlDatabase;
  readonly roles: Readonly<Record<string, string>>;
  readonly claims: (identity: Identity, databaseRole: string) => Record<string, unknown>;
  readonly timeoutMs: number;
  readonly trail: AuditTrail;
  readonly source: string | undefined;
  readonly now: () => number;
}

/**
 * A query function whose every call runs as the signed-in person, in a transaction of its own:
 * `SET LOCAL ROLE` to the database role their roles map to, the claims policies read
 * (`request.jwt.claims`, `request.jwt.claim.sub`, as PostgREST and Supabase policies expect),
 * then the statement, checked first with PostgreSQL's parser. Row-level security and column
 * privileges then apply to them; nothing of theirs outlives the transaction.
 *
 * @example
 * ```ts
 * const sql = createUserQuery({ database: pool, roles: { sales_readonly: 'app_sales' } });
 * const { rows } = await sql.query('SELECT id, item FROM orders WHERE status = $1', ['open']);
 * ```
 */
export function createUserQuery(options: UserQueryOptions): UserQuery {
  const parsed = parseOptions(userQuerySchema(), options, 'createUserQuery');
  const settings: Settings = Object.freeze({
    database: sqlDatabaseOf(parsed.database),
    roles: parsed.roles,
    claims: parsed.claims ?? defaultClaims,
    timeoutMs: parsed.statementTimeoutMs ?? 10_000,
    trail: auditTrailFrom(parsed),
    source: parsed.source,
    now: Date.now,
  });
  return Object.freeze({
    query: (sql: string, params: readonly unknown[] = [], call: UserQueryCallOptions = {}) =>
      runAsUser(settings, sql, params, call),
    warm: () => loadSqlParser(),
  });
}

async function runAsUser(
  settings: Settings,
  sql: string,
  params: readonly unknown[],
  call: UserQueryCallOptions,
): Promise<UserQueryResult> {
  if (typeof sql !== 'string' || !Array.isArray(params)) {
    throw new TypeError('query(sql, params): sql must be a string and params an array');
  }
  const identity = call.identity ?? getCurrentIdentity();
  let statement: CheckedStatement | undefined;
  let databaseRole: string | undefined;
  try {
    databaseRole = databaseRoleOf(identity, settings.roles);
    statement = await checkStatement(sql, call.readOnly !== false);
  } catch (error) {
    const refusal = isIdentityError(error) ? error : unexpected(error);
    await recordSqlEvent(
      settings.trail,
      settings.source,
      { identity, statement, databaseRole, error: refusal },
      settings.now,
    );
    throw refusal;
  }
  return execute(settings, {
    sql,
    params,
    identity: identity as Identity,
    statement,
    databaseRole,
    readOnly: call.readOnly !== false,
  });
}

interface Execution {
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly identity: Identity;
  readonly statement: CheckedStatement;
  readonly databaseRole: string;
  readonly readOnly: boolean;
}

async function execute(settings: Settings, run: Execution): Promise<UserQueryResult> {
  const { identity, statement, databaseRole } = run;
  const facts = { identity, statement, databaseRole };
  // Under fail-closed, a write is not made until its intent is on record.
  if (!run.readOnly && settings.trail.policy === 'fail-closed') {
    await recordSqlEvent(settings.trail, settings.source, { ...facts, intent: true }, settings.now);
  }
  // set_config('role', ..., true) is SET LOCAL ROLE, checked by the server the same way (the
  // login role must be a member); the name came from the allow-list.
  const local = [
    ['role', databaseRole],
    ['request.jwt.claims', JSON.stringify(settings.claims(identity, databaseRole))],
    ['request.jwt.claim.sub', identity.subject],
    ['statement_timeout', String(settings.timeoutMs)],
    // The server then reads string literals as the parser of the check did: with it off, a
    // backslash would hide SQL from the check inside what it read as a string.
    ['standard_conforming_strings', 'on'],
  ] as const;
  const started = settings.now();
  let result: SqlResult;
  try {
    result = await settings.database.transaction(run.readOnly, local, (tx) =>
      tx.query(run.sql, run.params),
    );
  } catch (error) {
    const failure = databaseFailure(error);
    await recordSqlEvent(
      settings.trail,
      settings.source,
      { ...facts, error: failure, durationMs: settings.now() - started },
      settings.now,
    );
    throw failure;
  }
  await recordSqlEvent(
    settings.trail,
    settings.source,
    { ...facts, recordsReturned: result.rowCount, durationMs: settings.now() - started },
    settings.now,
  );
  return { ...result, action: statement.action, tables: statement.tables };
}

function unexpected(error: unknown): IdentityError {
  return new IdentityError('internal_error', 'The SQL call failed unexpectedly.', { cause: error });
}
