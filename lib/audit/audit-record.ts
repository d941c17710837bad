import type { AuditEvent } from './audit-event.js';
import type { AuditFields } from './checkpoint.js';
import { toEcs } from './to-ecs.js';

/** What the winston sink hands to winston for one event: `level` and `message` plus fields. */
export type AuditRecord = Record<string, unknown> & {
  readonly level: 'info';
  readonly message: string;
};

/** The record of an event, and the JSON line of a record, in the field names chosen. */
export interface AuditRecordShape {
  record(event: AuditEvent): AuditRecord;
  line(record: Record<string, unknown>): string;
  /** `line(record(event))`, as the audit file takes it when winston is not in between. */
  fileLine(event: AuditEvent): string;
}

const plainLine = (record: Record<string, unknown>): string => JSON.stringify(record);

/**
 * The records and lines of each field choice. ECS lines put `@timestamp`, `log.level` and
 * `message` first, as ECS loggers do, and leave out winston's `level` (which winston itself
 * needs on the record, to route it); `both` keeps it, as the package's lines have it.
 */
export const AUDIT_RECORD_SHAPES: Readonly<Record<AuditFields, AuditRecordShape>> = {
  gateway: {
    record: (event) => ({ level: 'info', message: 'audit', ...event }),
    line: plainLine,
    // The same line as line(record(event)), without the record: the event's own JSON after the
    // two fields winston's record puts first. An event always has fields, so `{` starts it.
    fileLine: (event) => {
      const json = JSON.stringify(event);
      // An event of its own making (sink.log is public) may lack fields or name one `level`:
      // then the record's line, which is what winston would write.
      return json.length > 2 && !('level' in event) && !('message' in event)
        ? `{"level":"info","message":"audit",${json.slice(1)}`
        : plainLine({ level: 'info', message: 'audit', ...event });
    },
  },
  ecs: {
    record: (event) => {
      const ecs = toEcs(event);
      // First in the line, as ECS loggers write them; the spread keeps their places.
      const head: Record<string, unknown> & { message: string } = {
        '@timestamp': ecs['@timestamp'],
        'log.level': 'info',
        message: 'audit',
      };
      return Object.assign(head, ecs, { level: 'info' as const });
    },
    line: (record) => {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { level, ...ecs } = record;
      return JSON.stringify(ecs);
    },
    fileLine: (event) => AUDIT_RECORD_SHAPES.ecs.line(AUDIT_RECORD_SHAPES.ecs.record(event)),
  },
  both: {
    record: (event) => {
      // ECS defines `user` and `source` as objects: a line cannot hold the package's strings
      // under the same names without an index rejecting it.
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { user, source, ...gateway } = event;
      return { level: 'info', message: 'audit', ...gateway, ...toEcs(event), 'log.level': 'info' };
    },
    line: plainLine,
    fileLine: (event) => plainLine(AUDIT_RECORD_SHAPES.both.record(event)),
  },
};
