import type { Claims } from '../../core/claims.js';
import type { IssuerView } from './bearer-settings.js';
import type { Observation } from './token-checks.js';

/**
 * The token's time claims against this machine's clock, as the verifier judges them: `exp`
 * required and not past (beyond the clock tolerance), not further ahead than the maximum
 * lifetime; `nbf` and `iat` not in the future; `iat` not older than `maxTokenAgeSec` when set.
 * Each difference is given in seconds, so a clock that is off shows as such.
 *
 * @example
 * ```ts
 * observeTimes(payload, issuer, Math.floor(Date.now() / 1000)).summary;
 * // 'exp 2026-05-01T10:00:00Z: expired 3600 s ago; iat ...; clock tolerance 30 s'
 * ```
 */
export function observeTimes(
  claims: Claims | undefined,
  issuer: IssuerView | undefined,
  nowSec: number,
): Observation {
  const tolerance = issuer?.clockToleranceSec ?? 0;
  const exp = numeric(claims?.['exp']);
  const nbf = numeric(claims?.['nbf']);
  const iat = numeric(claims?.['iat']);
  const problems: string[] = [];
  const parts: string[] = [];
  if (exp === undefined) problems.push('no valid "exp" claim (it is required)');
  else if (nowSec - exp > tolerance) parts.push(`exp ${at(exp)}: expired ${nowSec - exp} s ago`);
  else parts.push(`exp ${at(exp)}: ${relative(exp - nowSec)}`);
  if (
    exp !== undefined &&
    issuer !== undefined &&
    exp - nowSec > issuer.maxTokenLifetimeSec + tolerance
  ) {
    problems.push(
      `valid for ${exp - nowSec} s, more than the maximum of ${issuer.maxTokenLifetimeSec} s`,
    );
  }
  if (nbf !== undefined) {
    parts.push(`nbf ${at(nbf)}: ${relative(nbf - nowSec)}`);
    if (nbf - nowSec > tolerance) problems.push(`not valid before ${nbf - nowSec} s from now`);
  }
  if (iat !== undefined) {
    parts.push(`iat ${at(iat)}: ${relative(iat - nowSec)}`);
    if (iat - nowSec > tolerance) {
      problems.push(
        `issued ${iat - nowSec} s in the future: this machine's clock is behind the issuer's`,
      );
    }
    const maxAge = issuer?.maxTokenAgeSec;
    if (maxAge !== undefined && nowSec - iat > maxAge + tolerance) {
      problems.push(`issued ${nowSec - iat} s ago, more than the maximum age of ${maxAge} s`);
    }
  } else if (issuer?.maxTokenAgeSec !== undefined) {
    problems.push('no "iat" claim, which a maximum token age requires');
  }
  const expired = exp !== undefined && nowSec - exp > tolerance;
  return {
    ok: problems.length === 0 && !expired,
    summary: [...parts, ...problems, `clock tolerance ${tolerance} s`].join('; '),
    details: {
      now: nowSec,
      exp: exp ?? null,
      nbf: nbf ?? null,
      iat: iat ?? null,
      exp_difference_sec: exp === undefined ? null : exp - nowSec,
      clock_tolerance_sec: tolerance,
    },
  };
}

function numeric(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : undefined;
}

function at(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString().replace('.000Z', 'Z');
}

function relative(deltaSec: number): string {
  if (deltaSec === 0) return 'now';
  return deltaSec > 0 ? `in ${deltaSec} s` : `${-deltaSec} s ago`;
}
