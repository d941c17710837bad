/** How one dependency, or the whole service, is doing. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/**
 * One JWKS URL. `status`: `ok` when the last fetch succeeded; `degraded` when it failed but the
 * keys of an earlier fetch are still served (within `jwksStaleAfterMs`); `down` when no keys
 * can be served; `unknown` before the first fetch.
 */
export interface JwksHealth {
  /** The JWKS URL, without query string or credentials. */
  readonly url: string;
  readonly status: HealthStatus | 'unknown';
  /** Milliseconds since the last successful fetch; null if none has succeeded. */
  readonly cacheAgeMs: number | null;
  /** How many keys the last successful fetch listed. */
  readonly keys: number | null;
  /** `timeout`, `unreachable`, `http_503`...: the last failed fetch's code; null if none. */
  readonly lastErrorCode: string | null;
  readonly lastErrorAgeMs: number | null;
}

/**
 * One directory, from its last LDAP operation. `ok` when it answered (a wrong password is an
 * answer); `degraded` when it could not be used: password sign-in fails, tokens still work.
 */
export interface DirectoryHealth {
  readonly url: string;
  readonly status: HealthStatus;
  readonly lastOutcome: 'ok' | 'refused' | 'error';
  /** Milliseconds since that operation. */
  readonly ageMs: number;
  readonly lastErrorCode: string | null;
}

/**
 * The audit sink. Failing is `down` under the `fail-closed` policy (every decision is refused)
 * and `degraded` under `fail-open` (requests go on; events go to the failure handler).
 */
export interface AuditHealth {
  readonly status: HealthStatus;
  readonly failing: boolean;
  /** The system error code of the failure (`ENOSPC`, `EACCES`), when it has one. */
  readonly errorCode: string | null;
}

/**
 * What a health check found. `status` is the worst that matters: `down` when no JWKS URL can
 * serve keys (every known one is down) or a fail-closed audit sink fails; `degraded` when any
 * part is degraded or down; `ok` otherwise. Holds no secret and no library error text.
 */
export interface HealthReport {
  readonly status: HealthStatus;
  /** When the report was made (ISO 8601). */
  readonly checkedAt: string;
  readonly jwks: readonly JwksHealth[];
  readonly directories: readonly DirectoryHealth[];
  /** Null when no audit sink was given. */
  readonly audit: AuditHealth | null;
}

/** The overall status of a report's parts. */
export function overallStatus(
  jwks: readonly JwksHealth[],
  directories: readonly DirectoryHealth[],
  audit: AuditHealth | null,
): HealthStatus {
  const known = jwks.filter((entry) => entry.status !== 'unknown');
  if (audit?.status === 'down') return 'down';
  if (known.length > 0 && known.every((entry) => entry.status === 'down')) return 'down';
  const parts = [...known, ...directories, ...(audit === null ? [] : [audit])];
  return parts.some((part) => part.status !== 'ok') ? 'degraded' : 'ok';
}
