import { fromEnv } from '../../bearer/from-env.js';
import {
  bearerInEnvironment,
  configuredBearer,
  type BearerSettings,
} from '../explain/bearer-settings.js';
import { UsageError } from '../explain/command-io.js';
import { isRecord, loadConfigModule } from '../explain/config-module.js';

/** The entries a doctor configuration module may export, each an options object. */
export const DOCTOR_ENTRIES = ['bearer', 'ldap', 'saml', 'oidc', 'redis', 'audit'] as const;

/** What the doctor checks: each entry's options as configured, or undefined when absent. */
export interface DoctorConfig {
  /** Bearer settings, or the problem `fromEnv()` found with the environment. */
  readonly bearer: BearerSettings | { readonly problem: string } | undefined;
  readonly ldap: unknown;
  readonly saml: unknown;
  readonly oidc: unknown;
  readonly redis: unknown;
  readonly audit: unknown;
}

/**
 * The configuration to check: the entries of a `--config` module (named exports, or a default
 * export object, with `bearer`, `ldap`, `saml`, `oidc`, `redis` and `audit` members), and bearer
 * tokens from the environment (`fromEnv()`) when the module has no `bearer`. A module that
 * cannot be loaded is a {@link UsageError}; a bad variable is reported as a failed check.
 *
 * @example
 * ```ts
 * const config = await loadDoctorConfig({ config: './identity.config.mjs', env: process.env, cwd: process.cwd() });
 * ```
 */
export async function loadDoctorConfig(input: {
  readonly config: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}): Promise<DoctorConfig> {
  let entries: Record<string, unknown> = {};
  if (input.config !== undefined) {
    const exports = await loadConfigModule(input.config, input.cwd);
    const chosen = isRecord(exports['default']) ? exports['default'] : exports;
    entries = { ...chosen };
    const unknown = Object.keys(entries).filter(
      (name) => name !== 'default' && !(DOCTOR_ENTRIES as readonly string[]).includes(name),
    );
    if (unknown.length > 0 && entries['issuer'] === undefined && entries['issuers'] === undefined) {
      throw new UsageError(
        `--config ${input.config}: unknown entr${unknown.length > 1 ? 'ies' : 'y'} ${unknown.join(', ')} (expected ${DOCTOR_ENTRIES.join(', ')})`,
      );
    }
  }
  return {
    bearer: bearerEntry(entries, input),
    ldap: entries['ldap'],
    saml: entries['saml'],
    oidc: entries['oidc'],
    redis: entries['redis'],
    audit: entries['audit'],
  };
}

function bearerEntry(
  entries: Record<string, unknown>,
  input: {
    readonly config: string | undefined;
    readonly env: Readonly<Record<string, string | undefined>>;
  },
): DoctorConfig['bearer'] {
  const label = `--config ${input.config ?? ''}`;
  // A module written for explain (the options of authenticate() at the top) serves here too.
  if (entries['issuer'] !== undefined || entries['issuers'] !== undefined) {
    return configuredBearer(entries, label);
  }
  const bearer = entries['bearer'];
  if (bearer !== undefined) {
    return isRecord(bearer)
      ? configuredBearer(bearer, label)
      : { problem: `${label}: "bearer" must be the options object of authenticate()` };
  }
  if (!bearerInEnvironment(input.env)) return undefined;
  try {
    return { options: fromEnv(input.env), source: 'env', label: 'environment (fromEnv)' };
  } catch (error) {
    if (error instanceof TypeError) return { problem: error.message };
    throw error;
  }
}
