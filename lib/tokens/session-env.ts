import {
  DEFAULT_REFRESH_TTL_MIN,
  DEFAULT_SESSION_TTL_MIN,
  type SessionTokensOptions,
} from './session-options.js';

/**
 * Session lifetimes from the variables a data gateway's `.env` already has: `DF_JWT_TTL`
 * (minutes a session token lives; default 1440) and `DF_JWT_REFRESH_TTL` (minutes after sign-in
 * during which it can be refreshed; default 20160). A bad value throws a `TypeError` naming the
 * variable, so the process stops at startup.
 *
 * @example
 * ```ts
 * const sessions = createSessionTokens({ issuer, signingKeys, ...sessionLifetimesFromEnv() });
 * ```
 */
export function sessionLifetimesFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Required<Pick<SessionTokensOptions, 'sessionTtlMin' | 'refreshTtlMin'>> {
  const minutes = (name: string, fallback: number): number => {
    const text = env[name]?.trim();
    if (text === undefined || text === '') return fallback;
    if (!/^[1-9][0-9]{0,6}$/.test(text)) {
      throw new TypeError(`${name} must be a whole number of minutes (got "${text.slice(0, 20)}")`);
    }
    return Number(text);
  };
  return {
    sessionTtlMin: minutes('DF_JWT_TTL', DEFAULT_SESSION_TTL_MIN),
    refreshTtlMin: minutes('DF_JWT_REFRESH_TTL', DEFAULT_REFRESH_TTL_MIN),
  };
}
