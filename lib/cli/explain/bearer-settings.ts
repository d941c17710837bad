import type { JsonWebKey } from 'node:crypto';
import type { JwsAlgorithm } from '../../bearer/algorithms.js';
import type { AuthenticatorOptions } from '../../bearer/authenticator-options.js';
import { ENV_VARIABLES, fromEnv } from '../../bearer/from-env.js';
import {
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_LIFETIME_SEC,
  type IssuerOptions,
} from '../../bearer/issuer-options.js';
import { DEFAULT_JWKS_TIMEOUT_MS } from '../../bearer/jwks-key-source.js';
import type { PublicKeyInput } from '../../bearer/key-source.js';
import type { ClaimPresetName } from '../../core/claim-presets.js';
import type { MappingConfig } from '../../core/identity-mapping.js';
import { UsageError } from './command-io.js';
import { exportedOptions, isRecord, loadConfigModule } from './config-module.js';

// Options of authenticate() that concern the audit trail and the HTTP answer, not whether a
// token is accepted: a module written for authenticate() works here without editing.
const AUTHENTICATE_ONLY_OPTIONS = [
  'audit',
  'onAuditFailure',
  'auditFailurePolicy',
  'source',
  'realm',
  'generateRequestId',
] as const;

/** The bearer settings a command checks, and where they came from. */
export interface BearerSettings {
  /** The options of `createBearerAuthenticator()`, not yet validated. */
  readonly options: AuthenticatorOptions;
  /** `env`: the variables `fromEnv()` reads; `config`: a `--config` module. */
  readonly source: 'env' | 'config';
  /** For the report: `environment (fromEnv)` or `--config <path>`. */
  readonly label: string;
}

/**
 * The bearer options of the application: from a `--config` module (its `options` export or its
 * default export, either the options of `authenticate()` / `createBearerAuthenticator()` or an
 * object whose `bearer` member holds them), or else from the environment through `fromEnv()`.
 * A bad variable is a {@link UsageError} naming it, as `fromEnv()` names it.
 *
 * @example
 * ```ts
 * const settings = await loadBearerSettings({ config: undefined, env: process.env, cwd: process.cwd() });
 * ```
 */
export async function loadBearerSettings(input: {
  readonly config: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}): Promise<BearerSettings> {
  if (input.config === undefined) {
    try {
      return { options: fromEnv(input.env), source: 'env', label: 'environment (fromEnv)' };
    } catch (error) {
      if (error instanceof TypeError) throw new UsageError(error.message);
      throw error;
    }
  }
  const exported = exportedOptions(await loadConfigModule(input.config, input.cwd));
  const candidate =
    isRecord(exported) && isRecord(exported['bearer']) && !hasIssuer(exported)
      ? exported['bearer']
      : exported;
  if (!isRecord(candidate)) {
    throw new UsageError(
      `--config ${input.config}: export the options of authenticate() as "options" or as the default export`,
    );
  }
  return configuredBearer(candidate, `--config ${input.config}`);
}

/**
 * Bearer settings from an options object written for `authenticate()` or
 * `createBearerAuthenticator()`: the audit and response options, which do not decide whether a
 * token is accepted, are set aside.
 *
 * @example
 * ```ts
 * configuredBearer({ issuer, audience, jwksUri, audit }, '--config app.mjs').options; // without audit
 * ```
 */
export function configuredBearer(options: Record<string, unknown>, label: string): BearerSettings {
  const kept = Object.fromEntries(
    Object.entries(options).filter(
      ([name]) => !(AUTHENTICATE_ONLY_OPTIONS as readonly string[]).includes(name),
    ),
  );
  return { options: kept, source: 'config', label };
}

/**
 * Whether the environment sets any variable `fromEnv()` reads: then bearer tokens are
 * configured there.
 *
 * @example
 * ```ts
 * if (bearerInEnvironment(process.env)) settings = fromEnv(process.env);
 * ```
 */
export function bearerInEnvironment(env: Readonly<Record<string, string | undefined>>): boolean {
  return Object.keys(ENV_VARIABLES).some((name) => (env[name]?.trim() ?? '') !== '');
}

function hasIssuer(value: Record<string, unknown>): boolean {
  return value['issuer'] !== undefined || value['issuers'] !== undefined;
}

/**
 * How to name an option to the operator: the environment variable it came from, or the option.
 *
 * @example
 * ```ts
 * settingName(settings, 'audience'); // 'JWT_AUDIENCE' from the environment, 'option "audience"' otherwise
 * ```
 */
export function settingName(settings: BearerSettings, option: string): string {
  if (settings.source === 'env') {
    const variable = Object.entries(ENV_VARIABLES).find(([, name]) => name === option)?.[0];
    if (variable !== undefined) return variable;
  }
  return `option "${option}"`;
}

/** Where one issuer's verification keys come from. */
export type KeyConfig =
  | { readonly kind: 'jwksUri'; readonly uri: string }
  | { readonly kind: 'jwks'; readonly keys: readonly JsonWebKey[] }
  | { readonly kind: 'publicKey'; readonly key: PublicKeyInput }
  | { readonly kind: 'secret'; readonly secret: string | Uint8Array };

/** One trusted issuer's settings with their defaults, as the verifier applies them. */
export interface IssuerView {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly keys: KeyConfig;
  readonly algorithms: readonly JwsAlgorithm[] | undefined;
  readonly clockToleranceSec: number;
  readonly maxTokenLifetimeSec: number;
  readonly maxTokenAgeSec: number | undefined;
  readonly requiredClaims: readonly string[];
  readonly requireAccessTokenType: boolean;
  readonly userClaim: string | undefined;
  readonly preset: ClaimPresetName;
  readonly mapping: MappingConfig | undefined;
  readonly revocable: boolean;
  readonly jwksTimeoutMs: number;
}

/**
 * Every trusted issuer of options that `createBearerAuthenticator()` accepted (so each has its
 * issuer, audience and exactly one key source), with the defaults filled in.
 *
 * @example
 * ```ts
 * const trusted = issuerViews(settings.options).map((view) => view.issuer);
 * ```
 */
export function issuerViews(options: AuthenticatorOptions): IssuerView[] {
  const issuers: readonly IssuerOptions[] = options.issuers ?? [options as IssuerOptions];
  return issuers.map((issuer) => ({
    issuer: issuer.issuer,
    audience: typeof issuer.audience === 'string' ? [issuer.audience] : [...issuer.audience],
    keys: keyConfig(issuer),
    algorithms: issuer.algorithms,
    clockToleranceSec: issuer.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    maxTokenLifetimeSec: issuer.maxTokenLifetimeSec ?? DEFAULT_MAX_TOKEN_LIFETIME_SEC,
    maxTokenAgeSec: issuer.maxTokenAgeSec,
    requiredClaims: issuer.requiredClaims ?? [],
    requireAccessTokenType: issuer.requireAccessTokenType ?? false,
    userClaim: issuer.userClaim,
    preset: issuer.preset ?? 'generic',
    mapping: issuer.mapping,
    revocable: issuer.isRevoked !== undefined,
    jwksTimeoutMs: issuer.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
  }));
}

function keyConfig(issuer: IssuerOptions): KeyConfig {
  if (issuer.jwksUri !== undefined) return { kind: 'jwksUri', uri: issuer.jwksUri };
  if (issuer.jwks !== undefined) return { kind: 'jwks', keys: issuer.jwks.keys };
  if (issuer.publicKey !== undefined) {
    return { kind: 'publicKey', key: issuer.publicKey as PublicKeyInput };
  }
  return { kind: 'secret', secret: issuer.secret ?? '' };
}
