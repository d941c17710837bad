import { IdentityError, isIdentityError } from '../core/errors.js';

/** SQLSTATE classes of a database that cannot serve: connection, shutdown, resources. */
const UNAVAILABLE = /^(08|53|57P0|58)/u;
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);

/**
 * The refusal a database error becomes: 503 when the database cannot serve, otherwise 422
 * `sql_failed` naming the SQLSTATE (a standard code, e.g. 42501 for a privilege the role lacks)
 * without the server's own message, which can quote data or the schema.
 */
export function databaseFailure(error: unknown): IdentityError {
  if (isIdentityError(error)) return error;
  const { code } = (error ?? {}) as { code?: unknown };
  const sqlState = typeof code === 'string' ? code : '';
  // 08P01 (protocol violation) is what a wrong number of parameters earns: the caller's doing.
  if (CONNECTION_ERRORS.has(sqlState) || (UNAVAILABLE.test(sqlState) && sqlState !== '08P01')) {
    return new IdentityError('database_unavailable', 'The database cannot serve the statement.', {
      cause: error,
      details: { sqlstate: sqlState },
    });
  }
  if (/^[0-9A-Z]{5}$/u.test(sqlState)) {
    return new IdentityError(
      'sql_failed',
      `The database refused the statement (SQLSTATE ${sqlState}); rewrite it, or ask for the privilege it needs.`,
      { cause: error, details: { sqlstate: sqlState } },
    );
  }
  return new IdentityError('database_unavailable', 'The database failed to run the statement.', {
    cause: error,
  });
}
