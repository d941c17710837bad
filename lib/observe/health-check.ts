import type { z } from 'zod';
import type { AuditFailurePolicy } from '../audit/auditor.js';
import type { WinstonAuditSink } from '../audit/winston-sink.js';
import {
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_STALE_IF_ERROR_MS,
} from '../bearer/jwks-key-source.js';
import { lazySchema } from '../core/lazy-zod.js';
import { parseOptions } from '../core/options.js';
import { DependencyMonitor, type DirectoryRecord, type JwksRecord } from './dependency-monitor.js';
import {
  overallStatus,
  type AuditHealth,
  type DirectoryHealth,
  type HealthReport,
  type JwksHealth,
} from './health-report.js';
import { withoutSecrets } from './safe-url.js';

/**
 * Default: 1500000 (25 minutes): how long after the last successful fetch a JWKS URL whose
 * fetches fail still has keys to serve (the issuer's default `jwksCacheMaxAgeMs` plus
 * `jwksStaleIfErrorMs`). Set it to those two added up when you change them.
 */
export const DEFAULT_HEALTH_JWKS_STALE_AFTER_MS =
  DEFAULT_JWKS_CACHE_MAX_AGE_MS + DEFAULT_JWKS_STALE_IF_ERROR_MS;

/** Options of {@link createHealthCheck}. */
export interface HealthCheckOptions {
  /** JWKS URLs to report before their first fetch (as `unknown`). Others appear once fetched. */
  jwksUris?: readonly string[];
  /** Default: 1500000 (25 minutes). See {@link DEFAULT_HEALTH_JWKS_STALE_AFTER_MS}. */
  jwksStaleAfterMs?: number;
  /** The audit sink to watch: the one `createWinstonAuditSink()` returns (its `failure`). */
  auditSink?: Pick<WinstonAuditSink, 'failure'>;
  /** Default: `fail-open`. The audit policy in force: `fail-closed` makes a failing sink `down`. */
  auditFailurePolicy?: AuditFailurePolicy;
  /** Default: `Date.now`. The clock the ages are measured with. */
  now?: () => number;
}

/** A health check: call it for a report; `close()` stops following the channels. */
export interface HealthCheck {
  (): HealthReport;
  close(): void;
}

const healthOptionsSchema = lazySchema((z) =>
  z.strictObject({
    jwksUris: z.array(z.url()).max(32).optional(),
    jwksStaleAfterMs: z.number().int().nonnegative().optional(),
    auditSink: z
      .custom<Pick<WinstonAuditSink, 'failure'>>(
        (value) => typeof value === 'object' && value !== null && 'failure' in value,
        { message: 'must be the sink createWinstonAuditSink() returns (it has a "failure")' },
      )
      .optional(),
    auditFailurePolicy: z.enum(['fail-open', 'fail-closed']).optional(),
    now: z
      .custom<() => number>((value) => typeof value === 'function', {
        message: 'must be a function',
      })
      .optional(),
  }),
);

type Settings = z.output<ReturnType<typeof healthOptionsSchema>>;

/**
 * A framework-free health check: the state of the JWKS endpoints (age of the keys since the last
 * successful fetch, the last fetch's error code), of the directories (the last LDAP operation's
 * outcome and age) and of the audit sink, and an overall `ok`, `degraded` or `down`.
 *
 * It learns from the package's diagnostics channels, so it sees the fetches and directory calls
 * made after it is created: create it at startup, before `warm()` or the first request. It
 * listens to their end only; requests that fetch nothing cost nothing more.
 *
 * @example
 * ```ts
 * const audit = createWinstonAuditSink({ filename: 'audit.log' });
 * const health = createHealthCheck({ jwksUris: [process.env.JWKS_URI], auditSink: audit });
 * app.get('/healthz', healthRoute(health));
 * ```
 */
export function createHealthCheck(options: HealthCheckOptions = {}): HealthCheck {
  const settings: Settings = parseOptions(healthOptionsSchema(), options, 'createHealthCheck');
  const now = settings.now ?? Date.now;
  const staleAfterMs = settings.jwksStaleAfterMs ?? DEFAULT_HEALTH_JWKS_STALE_AFTER_MS;
  const monitor = new DependencyMonitor(now);
  for (const url of settings.jwksUris ?? []) monitor.expectJwks(url);
  monitor.start();
  const check = (): HealthReport => {
    const at = now();
    const jwks = [...monitor.jwks].map(([url, record]) =>
      jwksHealth(url, record, at, staleAfterMs),
    );
    const directories = [...monitor.directories].map(([url, record]) =>
      directoryHealth(url, record, at),
    );
    const audit =
      settings.auditSink === undefined
        ? null
        : auditHealth(settings.auditSink, settings.auditFailurePolicy ?? 'fail-open');
    return {
      status: overallStatus(jwks, directories, audit),
      checkedAt: new Date(at).toISOString(),
      jwks,
      directories,
      audit,
    };
  };
  return Object.assign(check, { close: () => monitor.stop() });
}

function jwksHealth(url: string, record: JwksRecord, at: number, staleAfterMs: number): JwksHealth {
  const { successAt, errorAt } = record;
  const status =
    successAt === undefined && errorAt === undefined
      ? 'unknown'
      : record.lastOk
        ? 'ok'
        : successAt !== undefined && at - successAt < staleAfterMs
          ? 'degraded'
          : 'down';
  return {
    url: withoutSecrets(url),
    status,
    cacheAgeMs: successAt === undefined ? null : at - successAt,
    keys: record.keys ?? null,
    lastErrorCode: record.errorCode ?? null,
    lastErrorAgeMs: errorAt === undefined ? null : at - errorAt,
  };
}

function directoryHealth(url: string, record: DirectoryRecord, at: number): DirectoryHealth {
  return {
    url: withoutSecrets(url),
    status: record.outcome === 'error' ? 'degraded' : 'ok',
    lastOutcome: record.outcome,
    ageMs: at - record.at,
    lastErrorCode: record.errorCode ?? null,
  };
}

function auditHealth(
  sink: Pick<WinstonAuditSink, 'failure'>,
  policy: AuditFailurePolicy,
): AuditHealth {
  const failure = sink.failure;
  if (failure === undefined) return { status: 'ok', failing: false, errorCode: null };
  // A system error's code (ENOSPC) says what to fix; its message is the library's text.
  const code = (failure as NodeJS.ErrnoException).code;
  return {
    status: policy === 'fail-closed' ? 'down' : 'degraded',
    failing: true,
    errorCode: typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,31}$/.test(code) ? code : null,
  };
}
