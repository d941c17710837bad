import { loadModule, normalizeSync, parseSync } from 'libpg-query';
import { LRUCache } from 'lru-cache';
import { IdentityError } from '../core/errors.js';

/** What the check learned of a statement it let through, for the audit event. */
export interface CheckedStatement {
  /** `SELECT`, `INSERT`, `UPDATE`, `DELETE` or `MERGE`. */
  readonly action: string;
  /** The tables it names (`schema.table` when qualified), CTE names left out. */
  readonly tables: readonly string[];
  /** The WHERE clause's columns and constants (parameters as `$n`, never their values). */
  readonly filters: { readonly columns: readonly string[]; readonly constants: readonly unknown[] };
  /** The statement with every constant replaced by `$n`: safe to log. */
  readonly normalized: string;
}

const TOP_LEVEL: Readonly<Record<string, string>> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
};
const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * Functions a statement may not call: they change settings (`set_config`: the user's claims, the
 * role), run SQL given as text past this check (`query_to_xml` and kin, `dblink`), reach the
 * server's files or other sessions, or hold it (`pg_sleep`, advisory locks).
 */
const FORBIDDEN_FUNCTIONS = [
  /^set_config$/u,
  /^(query|cursor|table|schema|database)_to_xml/u,
  /^(query|table|schema|database)_to_xmlschema$/u,
  /^dblink/u,
  /^pg_(read|ls|stat)_/u,
  /^pg_(terminate|cancel)_backend$/u,
  /^pg_(reload_conf|rotate_logfile|promote|switch_wal|backup_start|backup_stop)$/u,
  /^pg_sleep/u,
  /^pg_(try_)?advisory_/u,
  /^lo_/u,
  // Text search functions that run a query given as text.
  /^ts_(stat|rewrite)$/u,
  // Session state that outlives the call: the random generator's seed.
  /^setseed$/u,
];

/** Longest SQL text checked: an agent's statement, not a dump (400 `sql_invalid` beyond). */
const MAX_SQL_CHARS = 100_000;

const MAX_FILTER_ITEMS = 20;
const MAX_CONSTANT_CHARS = 64;

let loaded: Promise<void> | undefined;

/** Loads the parser (WebAssembly) once; every check after it is synchronous. */
export function loadSqlParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/**
 * Refuses, before it runs, SQL that could change whose rows it sees: more than one statement,
 * anything but SELECT/INSERT/UPDATE/DELETE/MERGE at the top (so no SET, RESET, SET ROLE, SET
 * SESSION AUTHORIZATION, BEGIN/COMMIT, DO, CALL, COPY, DDL or GRANT), `SELECT INTO`, a call to
 * a function that changes settings or runs SQL text, and on a read-only call any write, in a CTE
 * too. Uses PostgreSQL's own parser (libpg-query): what it reads is what the server will read.
 */
export async function checkStatement(sql: string, readOnly: boolean): Promise<CheckedStatement> {
  await loadSqlParser();
  if (sql.length > MAX_SQL_CHARS) {
    throw refused('too_long', `The statement is longer than ${MAX_SQL_CHARS} characters.`, 400);
  }
  // Agents send the same statements again and again, with other parameters: a statement's
  // verdict depends on its text alone (and the call's read-only flag), so it is kept.
  const key = `${readOnly ? 'r' : 'w'}${sql}`;
  const known = checked.get(key);
  if (known instanceof IdentityError) throw known;
  if (known !== undefined) return known;
  try {
    const statement = parseAndCheck(sql, readOnly);
    checked.set(key, statement);
    return statement;
  } catch (error) {
    // A tree too deep to walk is refused, not a server fault.
    const refusal =
      error instanceof RangeError
        ? refused('too_deep', 'The statement is nested too deeply to check.', 400)
        : error;
    if (refusal instanceof IdentityError) checked.set(key, refusal);
    throw refusal;
  }
}

/** Verdicts of recent statements; only short statements are kept, so memory stays bounded. */
const checked = new LRUCache<string, CheckedStatement | IdentityError>({
  max: 1_000,
  maxSize: 4_000_000,
  sizeCalculation: (_value, key) => key.length + 200,
});

function parseAndCheck(sql: string, readOnly: boolean): CheckedStatement {
  let tree: { stmts?: { stmt?: Record<string, unknown> }[] };
  try {
    tree = parseSync(sql);
  } catch {
    throw refused('syntax_error', 'The statement is not valid SQL.', 400);
  }
  const statements = tree.stmts ?? [];
  if (statements.length !== 1) {
    throw refused('multiple_statements', 'Send exactly one SQL statement per call.');
  }
  const [kind = '', node] = Object.entries(statements[0]?.stmt ?? {})[0] ?? [];
  const action = TOP_LEVEL[kind];
  if (action === undefined) {
    throw refused(
      reasonFor(kind, node),
      `Only SELECT, INSERT, UPDATE, DELETE and MERGE are run (not ${kind.replace(/Stmt$/u, '')}).`,
    );
  }
  inspect(kind, node, readOnly);
  return {
    action,
    tables: tablesOf(node, new Set()),
    filters: filtersOf((node as { whereClause?: unknown } | undefined)?.whereClause),
    normalized: normalizeSync(sql),
  };
}

function reasonFor(kind: string, node: unknown): string {
  const setting = (node as { name?: unknown } | undefined)?.name;
  if (kind === 'VariableSetStmt' && (setting === 'role' || setting === 'session_authorization')) {
    return 'role_change';
  }
  if (kind === 'VariableSetStmt' || kind === 'VariableShowStmt') return 'setting_change';
  if (kind === 'TransactionStmt') return 'transaction_control';
  if (kind === 'DoStmt' || kind === 'CallStmt') return 'procedural_code';
  return 'statement_not_allowed';
}

function refused(reason: string, message: string, status: 400 | 403 = 403): IdentityError {
  return new IdentityError(status === 400 ? 'sql_invalid' : 'sql_refused', message, {
    details: { reason },
  });
}

/**
 * Walks the whole tree, the statement itself included: writes (at the top or in a CTE) on a
 * read-only call, `SELECT INTO`, writes to the system catalogs (`UPDATE pg_settings` is `SET`
 * by another name), and calls to forbidden functions.
 */
function inspect(kind: string, root: unknown, readOnly: boolean): void {
  walk(
    root,
    (type, node) => {
      if (WRITES.has(type)) checkWrite(node, readOnly);
      if ((node as { intoClause?: unknown }).intoClause !== undefined) {
        throw refused('statement_not_allowed', 'SELECT INTO creates a table; it is not run.');
      }
      if (type === 'FuncCall') checkFunction(node);
    },
    kind,
  );
}

function checkWrite(node: unknown, readOnly: boolean): void {
  if (readOnly)
    throw refused('write_on_read_only', 'This call is read-only; the statement writes.');
  const target = (node as { relation?: { relname?: unknown; schemaname?: unknown } }).relation;
  const name = typeof target?.relname === 'string' ? target.relname.toLowerCase() : '';
  const schema = typeof target?.schemaname === 'string' ? target.schemaname.toLowerCase() : '';
  if (name.startsWith('pg_') || schema === 'pg_catalog' || schema === 'information_schema') {
    throw refused(
      name === 'pg_settings' ? 'setting_change' : 'statement_not_allowed',
      'Writes to the system catalogs are not run.',
    );
  }
}

/**
 * The tables a statement names. A CTE's name hides a table of that name only where the CTE is
 * in scope: in the statement's body and in the CTEs after it, not inside its own query (which
 * reads the table itself).
 */
function tablesOf(root: unknown, ctes: ReadonlySet<string>): string[] {
  const tables = new Set<string>();
  const visit = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, scope);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const node = value as Record<string, unknown>;
    const withClause = node['withClause'] as { ctes?: unknown[] } | undefined;
    let inner = scope;
    if (withClause?.ctes !== undefined) {
      const names = withClause.ctes.map((cte) => cteName(cte));
      inner = new Set([...scope, ...names]);
      for (const cte of withClause.ctes) {
        const own = cteName(cte);
        const query = (cte as { CommonTableExpr?: { ctequery?: unknown } }).CommonTableExpr
          ?.ctequery;
        visit(query, new Set([...inner].filter((name) => name !== own)));
      }
    }
    // A schema-qualified name never refers to a CTE.
    const qualified = typeof node['schemaname'] === 'string';
    if (typeof node['relname'] === 'string' && (qualified || !inner.has(node['relname']))) {
      const schema = node['schemaname'];
      tables.add(typeof schema === 'string' ? `${schema}.${node['relname']}` : node['relname']);
    }
    for (const [key, child] of Object.entries(node)) {
      if (key !== 'withClause') visit(child, inner);
    }
  };
  visit(root, ctes);
  return [...tables];
}

function cteName(cte: unknown): string {
  return String((cte as { CommonTableExpr?: { ctename?: unknown } }).CommonTableExpr?.ctename);
}

function checkFunction(node: unknown): void {
  const parts = ((node as { funcname?: { String?: { sval?: string } }[] }).funcname ?? []).map(
    (part) => (part.String?.sval ?? '').toLowerCase(),
  );
  const name = parts.at(-1) ?? '';
  if (FORBIDDEN_FUNCTIONS.some((pattern) => pattern.test(name))) {
    throw refused(
      name === 'set_config' ? 'setting_change' : 'function_not_allowed',
      `The function ${name}() is not allowed in an agent's SQL.`,
    );
  }
}

const UNWRAPPED: Readonly<Record<string, string>> = {
  relation: 'RangeVar',
  larg: 'SelectStmt',
  rarg: 'SelectStmt',
};

/** Calls `visit(type, node)` for every node of the tree (objects under a capitalized key). */
function walk(value: unknown, visit: (type: string, node: unknown) => void, type = ''): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (type !== '') visit(type, value);
  for (const [key, child] of Object.entries(value)) {
    // Some nodes appear unwrapped under a lower-case key: relations under `relation`, and the
    // two sides of a UNION under `larg` and `rarg` (SELECT INTO hides on the left one).
    walk(child, visit, /^[A-Z]/u.test(key) ? key : (UNWRAPPED[key] ?? ''));
  }
}

function filtersOf(where: unknown): CheckedStatement['filters'] {
  const columns = new Set<string>();
  const constants: unknown[] = [];
  walk(where, (type, node) => {
    if (type === 'ColumnRef') {
      const fields = (node as { fields?: { String?: { sval?: string } }[] }).fields ?? [];
      const name = fields.map((field) => field.String?.sval ?? '*').join('.');
      if (columns.size < MAX_FILTER_ITEMS) columns.add(name);
    } else if (type === 'A_Const' && constants.length < MAX_FILTER_ITEMS) {
      constants.push(constantOf(node));
    } else if (type === 'ParamRef' && constants.length < MAX_FILTER_ITEMS) {
      constants.push(`$${String((node as { number?: unknown }).number)}`);
    }
  });
  return { columns: [...columns], constants };
}

function constantOf(node: unknown): unknown {
  const value = Object.values(node as Record<string, unknown>).find(
    (part) => typeof part === 'object' && part !== null,
  ) as Record<string, unknown> | undefined;
  const inner = value === undefined ? null : (Object.values(value)[0] ?? null);
  return typeof inner === 'string' ? inner.slice(0, MAX_CONSTANT_CHARS) : inner;
}
