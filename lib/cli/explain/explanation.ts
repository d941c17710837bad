import type { IdentitySummary } from './identity-report.js';
import type { CheckId } from './refusals.js';

/**
 * One line of the report. `pass`: the middleware checked this and it held. `fail`: the
 * middleware refused here (its code says so). `skip`: not decided, because the middleware
 * stopped before it; the summary still gives this check's facts.
 */
export interface CheckLine {
  readonly id: CheckId;
  readonly status: 'pass' | 'fail' | 'skip';
  /** The facts: which key, which audiences, how many seconds. Never the token. */
  readonly summary: string;
  /** On the failing line: the middleware's refusal, as a client would receive it. */
  readonly refusal?: { readonly status: number; readonly code: string; readonly message: string };
  /** On the failing line: what to change, naming the setting as the operator wrote it. */
  readonly fix?: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * Why a token passes or is refused, check by check: what `explain` prints, and its `--json`
 * output. It holds the token's fingerprint, never the token or its signature.
 */
export interface Explanation {
  /** Where the settings came from: `environment (fromEnv)` or `--config <path>`. */
  readonly settings: string;
  readonly trustedIssuers: readonly string[];
  readonly token: {
    readonly fingerprint: string;
    readonly bytes: number;
    readonly alg: string | null;
    readonly kid: string | null;
    readonly iss: string | null;
    readonly jti: string | null;
  };
  readonly checks: readonly CheckLine[];
  /** The identity the token gives (or would give, when it is refused before mapping). */
  readonly identity: IdentitySummary | undefined;
  /** What the route (`authenticate()` then the guard) answers. */
  readonly route: {
    readonly guard: string;
    readonly status: number;
    readonly code: string | null;
    readonly message: string | null;
  };
  /** True when the route answers 200. */
  readonly passes: boolean;
}
