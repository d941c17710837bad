import { lazySchema } from '../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import type { AuditSink } from './audit-sink.js';
import {
  createAuditTrail,
  type AuditFailureHandler,
  type AuditFailurePolicy,
  type AuditTrail,
} from './auditor.js';
import { createWinstonAuditSink } from './winston-sink.js';

const auditOptionSchemas = lazySchema((z) => ({
  /** Where audit events go. Default: winston, JSON lines on standard output. */
  audit: objectWithMethods<AuditSink>(
    ['log'],
    'must be an audit sink: an object with a log(event) method',
  ).optional(),
  /** Called when the audit sink fails. Default: the event and the error on standard error. */
  onAuditFailure: functionOption<AuditFailureHandler>().optional(),
  /**
   * Default: `fail-open` (a sink failure is reported and the request goes on). `fail-closed`
   * waits for the sink and refuses with 503 `audit_unavailable` when it fails.
   */
  auditFailurePolicy: z
    .enum(['fail-open', 'fail-closed'] satisfies AuditFailurePolicy[])
    .optional(),
}));

/**
 * The audit options shared by `authenticate()`, `createPassthrough()` and the other factories,
 * to spread into their schema's shape. Getters, so that the schemas are built (and zod loaded)
 * when a factory's schema spreads them, never when this file is imported.
 */
export const auditOptionsShape = {
  get audit() {
    return auditOptionSchemas().audit;
  },
  get onAuditFailure() {
    return auditOptionSchemas().onAuditFailure;
  },
  get auditFailurePolicy() {
    return auditOptionSchemas().auditFailurePolicy;
  },
};

/** The audit trail those options describe, with the winston sink as the default. */
export function auditTrailFrom(options: {
  audit?: AuditSink | undefined;
  onAuditFailure?: AuditFailureHandler | undefined;
  auditFailurePolicy?: AuditFailurePolicy | undefined;
}): AuditTrail {
  return createAuditTrail(
    options.audit ?? createWinstonAuditSink(),
    options.auditFailurePolicy,
    options.onAuditFailure,
  );
}

/** Options of {@link createAuditTrailFromOptions}. */
export type AuditTrailOptions = Parameters<typeof auditTrailFrom>[0];

const auditTrailSchema = lazySchema((z) => z.strictObject(auditOptionsShape));

/**
 * The audit trail of a server built on the framework-free API: its sink (default: winston,
 * JSON lines on standard output), failure policy and failure handler, checked as
 * `authenticate()` checks them. Give the same trail to each request's `RequestAudit`.
 *
 * @example
 * ```ts
 * const trail = createAuditTrailFromOptions({ audit: createWinstonAuditSink({ filename }) });
 * ```
 */
export function createAuditTrailFromOptions(options: AuditTrailOptions = {}): AuditTrail {
  return auditTrailFrom(parseOptions(auditTrailSchema(), options, 'createAuditTrail'));
}
