import { buildAuditEvent } from '../audit/audit-event.js';
import { recordAuditEvent, type AuditTrail } from '../audit/auditor.js';
import { outcomeOf } from '../audit/request-audit.js';
import type { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { getCurrentScope } from '../core/request-context.js';
import type { CheckedStatement } from './sql-check.js';

/** What one statement's event says. */
export interface SqlEventFacts {
  readonly identity: Identity | undefined;
  readonly statement: CheckedStatement | undefined;
  readonly databaseRole: string | undefined;
  readonly error?: IdentityError | undefined;
  readonly recordsReturned?: number | undefined;
  readonly durationMs?: number | undefined;
  /** Under fail-closed, the event written before a write runs. */
  readonly intent?: boolean;
}

/**
 * One event per statement, in the gateway's shape: the user, `action` (`SELECT`...), `resource`
 * (the tables), `filters` (the WHERE clause's columns and constants), `records_returned`, the
 * request's source and address. The statement is recorded normalized (constants as `$n`), and
 * parameter values never.
 */
export function recordSqlEvent(
  trail: AuditTrail,
  source: string | undefined,
  facts: SqlEventFacts,
  now: () => number,
): Promise<void> | undefined {
  const scope = getCurrentScope();
  const { statement, error } = facts;
  return recordAuditEvent(
    trail,
    buildAuditEvent({
      action: statement?.action ?? 'SQL',
      outcome: outcomeOf(error),
      reason: error?.code ?? (facts.intent === true ? 'intent' : 'ok'),
      status: error?.status ?? null,
      method: 'SQL',
      path: '',
      resource: statement === undefined ? '(not parsed)' : statement.tables.join(', ') || '(none)',
      requestId: scope?.requestId ?? '',
      ip: scope?.ip,
      source: source ?? scope?.source ?? 'sql-agent',
      identity: facts.identity,
      filters: statement?.filters,
      recordsReturned: facts.recordsReturned ?? null,
      ...(facts.durationMs === undefined ? {} : { durationMs: facts.durationMs }),
      details: {
        ...(facts.databaseRole === undefined ? {} : { database_role: facts.databaseRole }),
        ...(statement === undefined ? {} : { statement: statement.normalized.slice(0, 2_000) }),
        ...error?.details,
      },
      now,
    }),
  );
}
