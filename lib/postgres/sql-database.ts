import { randomBytes } from 'node:crypto';
import { IdentityError } from '../core/errors.js';

/** What a statement gave back. */
export interface SqlResult {
  readonly rows: readonly Record<string, unknown>[];
  /** Rows returned, or affected by a write. */
  readonly rowCount: number;
}

/** One transaction's way to run statements, with parameters sent apart from the text. */
export interface SqlTransaction {
  query(text: string, params: readonly unknown[]): Promise<SqlResult>;
}

/**
 * What a transaction starts with, each set `LOCAL` (it ends with the transaction): the role
 * first, then the claims and limits. Names are the package's own; values are data.
 */
export type LocalSettings = readonly (readonly [name: string, value: string])[];

/** A database the user's statements run in: each call is one transaction of its own. */
export interface SqlDatabase {
  transaction<T>(
    readOnly: boolean,
    settings: LocalSettings,
    work: (tx: SqlTransaction) => Promise<T>,
  ): Promise<T>;
}

/** node-postgres's Pool, as far as it is used. */
interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}
interface PgClientLike {
  query(config: {
    text: string;
    values?: unknown[];
    queryMode?: 'extended';
  }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  release(error?: Error | boolean): void;
}

/** PGlite, as far as it is used. */
interface PgliteLike {
  transaction<T>(work: (tx: PgliteTransactionLike) => Promise<T>): Promise<T>;
  exec(sql: string): Promise<unknown>;
}
interface PgliteTransactionLike {
  query(
    text: string,
    params?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; affectedRows?: number }>;
}

/** A database as the application hands it over: a node-postgres Pool, or a PGlite. */
export type SqlDatabaseInput = PgPoolLike | PgliteLike;

/** Whether a value is a database this package runs statements in. */
export function isSqlDatabase(value: unknown): value is PgPoolLike | PgliteLike {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<PgPoolLike & PgliteLike>;
  return (
    (typeof candidate.transaction === 'function' && typeof candidate.exec === 'function') ||
    typeof candidate.connect === 'function'
  );
}

/**
 * The adapter over a node-postgres Pool or a PGlite instance. Every statement goes through the
 * extended protocol (parse, bind, execute): the text is one statement, parameters are values,
 * never spliced into it. The transaction ends before the connection goes back to the pool, and
 * with it every `SET LOCAL`: the next user of the connection inherits no role or setting.
 */
export function sqlDatabaseOf(database: PgPoolLike | PgliteLike): SqlDatabase {
  if (typeof (database as PgliteLike).transaction === 'function') {
    const pglite = database as PgliteLike;
    return {
      transaction: (readOnly, settings, work) =>
        pglite.transaction(async (tx) => {
          if (readOnly) await tx.query('SET TRANSACTION READ ONLY');
          // In process: no round trip to save, so the values go as parameters.
          const calls = settings.map(
            (_, index) => `set_config($${index * 2 + 1}, $${index * 2 + 2}, true)`,
          );
          await tx.query(`SELECT ${calls.join(', ')}`, settings.flat());
          return work({
            async query(text, params) {
              const result = await tx.query(text, [...params]);
              // PGlite counts affected rows only for writes; a SELECT's count is its rows.
              const rowCount =
                result.rows.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
              return { rows: result.rows, rowCount };
            },
          });
        }),
    };
  }
  const pool = database as PgPoolLike;
  return {
    transaction: (readOnly, settings, work) => pgTransaction(pool, readOnly, settings, work),
  };
}

async function pgTransaction<T>(
  pool: PgPoolLike,
  readOnly: boolean,
  settings: LocalSettings,
  work: (tx: SqlTransaction) => Promise<T>,
): Promise<T> {
  let client: PgClientLike;
  try {
    client = await pool.connect();
  } catch (cause) {
    throw new IdentityError('database_unavailable', 'The database cannot be reached.', { cause });
  }
  let broken: Error | undefined;
  try {
    await client.query({ text: beginWith(readOnly, settings) });
    const result = await work({
      async query(text, params) {
        const answer = await client.query({ text, values: [...params], queryMode: 'extended' });
        return { rows: answer.rows, rowCount: answer.rowCount ?? answer.rows.length };
      },
    });
    // In the same round trip, what a statement could leave on the session beyond the
    // transaction (temporary tables, sequence state) is dropped before the next user gets the
    // connection. (DISCARD ALL would need a round trip of its own: it cannot follow COMMIT in
    // one query.) Settings need nothing: they were all LOCAL.
    await client.query({ text: 'COMMIT; DISCARD TEMP; DISCARD SEQUENCES' });
    return result;
  } catch (error) {
    // A connection whose rollback fails is destroyed, not handed to the next user.
    await client.query({ text: 'ROLLBACK' }).catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
    });
    throw error;
  } finally {
    client.release(broken ?? false);
  }
}

/**
 * BEGIN and the settings in one round trip (a simple query of two statements): each query to
 * the server is a round trip, and this one runs before every statement. Values are dollar-quoted
 * with a tag they do not contain (nor make up at their end), so no value can close the quote.
 */
function beginWith(readOnly: boolean, settings: LocalSettings): string {
  const calls = settings.map(
    ([name, value]) => `set_config(${dollarQuoted(name)}, ${dollarQuoted(value)}, true)`,
  );
  return `${readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; SELECT ${calls.join(', ')}`;
}

function dollarQuoted(value: string): string {
  let tag = 'v';
  while (`${value}$`.includes(`$${tag}$`)) tag = `v${randomBytes(6).toString('hex')}`;
  return `$${tag}$${value}$${tag}$`;
}
