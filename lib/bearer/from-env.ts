import { CLAIM_PRESET_NAMES, type ClaimPresetName } from '../core/claim-presets.js';
import { mappingSchema, type MappingConfig } from '../core/identity-mapping.js';
import { keyWeakness, SUPPORTED_ALGORITHMS, type JwsAlgorithm } from './algorithms.js';
import type { AuthenticatorOptions } from './authenticator-options.js';
import { createBearerAuthenticator } from './bearer-authenticator.js';
import { issuerSchema, type IssuerOptions } from './issuer-options.js';

/** The environment variables {@link fromEnv} reads, and the option each one sets. */
export const ENV_VARIABLES = Object.freeze({
  JWT_ISSUER: 'issuer',
  JWT_AUDIENCE: 'audience',
  JWT_SECRET: 'secret',
  OAUTH_JWKS_URL: 'jwksUri',
  IDENTITY_PUBLIC_KEY: 'publicKey',
  DF_JWT_USER_CLAIM: 'userClaim',
  IDENTITY_ALGORITHMS: 'algorithms',
  IDENTITY_CLOCK_TOLERANCE_SEC: 'clockToleranceSec',
  IDENTITY_MAX_TOKEN_AGE_SEC: 'maxTokenAgeSec',
  IDENTITY_MAX_TOKEN_LIFETIME_SEC: 'maxTokenLifetimeSec',
  IDENTITY_REQUIRE_AT_JWT: 'requireAccessTokenType',
  IDENTITY_CLAIM_PRESET: 'preset',
  IDENTITY_MAPPING: 'mapping',
  IDENTITY_SERVICE_ACCOUNT_DENY: 'serviceAccounts.denyPatterns',
} as const);

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Builds {@link authenticate} options from the variables a data gateway's `.env` already has
 * (`JWT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`, `OAUTH_JWKS_URL`, `DF_JWT_USER_CLAIM`) plus the
 * `IDENTITY_*` ones listed in {@link ENV_VARIABLES}. A bad or contradictory value throws a
 * `TypeError` naming the variable, so the process stops at startup.
 *
 * @example
 * ```ts
 * app.use(authenticate({ ...fromEnv(), audit: auditSink }));
 * ```
 */
export function fromEnv(env: Env = process.env): AuthenticatorOptions {
  const read: ReadVariable = (name) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  requireTrustAndOneKey(read);
  const issuer = issuerFromEnv(read);
  const denyPatterns = list(read('IDENTITY_SERVICE_ACCOUNT_DENY'));
  const options: AuthenticatorOptions = {
    ...issuer,
    ...(denyPatterns === undefined ? {} : { serviceAccounts: { denyPatterns } }),
  };
  checkAsAuthenticateWould(options);
  return options;
}

type VariableName = keyof typeof ENV_VARIABLES;
/** A variable's trimmed value; undefined when unset or blank. */
type ReadVariable = (name: VariableName) => string | undefined;

// The issuer and audience say which tokens are trusted, and exactly one key source verifies them.
function requireTrustAndOneKey(read: ReadVariable): void {
  const keySources = (['JWT_SECRET', 'OAUTH_JWKS_URL', 'IDENTITY_PUBLIC_KEY'] as const).filter(
    (name) => read(name) !== undefined,
  );
  if (keySources.length > 1) {
    throw new TypeError(
      `${keySources.join(' and ')} are both set: set exactly one of JWT_SECRET, OAUTH_JWKS_URL or IDENTITY_PUBLIC_KEY`,
    );
  }
  for (const required of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
    if (read(required) === undefined) {
      throw new TypeError(
        `${required} is not set: it names the token ${ENV_VARIABLES[required]} this API trusts`,
      );
    }
  }
  if (keySources.length === 0) {
    throw new TypeError(
      'none of JWT_SECRET, OAUTH_JWKS_URL or IDENTITY_PUBLIC_KEY is set: tokens cannot be verified',
    );
  }
}

// The issuer options, each variable parsed into its option's type and then checked by the
// issuer schema, whose complaint is reported under the variable's name.
function issuerFromEnv(read: ReadVariable): IssuerOptions {
  const secret = read('JWT_SECRET');
  const weakness = secret === undefined ? undefined : keyWeakness(Buffer.from(secret, 'utf8'));
  if (weakness !== undefined) throw new TypeError(`JWT_SECRET is too short for HS256: ${weakness}`);
  const issuer: Record<string, unknown> = {};
  const set = (name: VariableName, value: unknown): void => {
    if (value !== undefined) issuer[ENV_VARIABLES[name]] = value;
  };
  set('JWT_ISSUER', read('JWT_ISSUER'));
  const audiences = list(read('JWT_AUDIENCE'));
  set('JWT_AUDIENCE', audiences?.length === 1 ? audiences[0] : audiences);
  set('JWT_SECRET', read('JWT_SECRET'));
  set('OAUTH_JWKS_URL', read('OAUTH_JWKS_URL'));
  set('IDENTITY_PUBLIC_KEY', read('IDENTITY_PUBLIC_KEY')?.replace(/\\n/g, '\n'));
  set('DF_JWT_USER_CLAIM', read('DF_JWT_USER_CLAIM'));
  set('IDENTITY_ALGORITHMS', algorithms(read('IDENTITY_ALGORITHMS')));
  set('IDENTITY_CLOCK_TOLERANCE_SEC', integer(read, 'IDENTITY_CLOCK_TOLERANCE_SEC'));
  set('IDENTITY_MAX_TOKEN_AGE_SEC', integer(read, 'IDENTITY_MAX_TOKEN_AGE_SEC'));
  set('IDENTITY_MAX_TOKEN_LIFETIME_SEC', integer(read, 'IDENTITY_MAX_TOKEN_LIFETIME_SEC'));
  set('IDENTITY_REQUIRE_AT_JWT', boolean(read('IDENTITY_REQUIRE_AT_JWT')));
  set('IDENTITY_CLAIM_PRESET', preset(read('IDENTITY_CLAIM_PRESET')));
  set('IDENTITY_MAPPING', mapping(read('IDENTITY_MAPPING')));
  const result = issuerSchema().safeParse(issuer);
  if (!result.success) {
    const issue = result.error.issues[0];
    const option = String(issue?.path[0] ?? '');
    const variable = Object.entries(ENV_VARIABLES).find(([, name]) => name === option)?.[0];
    throw new TypeError(`${variable ?? option} ${issue?.message ?? 'is invalid'}`);
  }
  return issuer as IssuerOptions;
}

// The checks authenticate() runs (keys, algorithms, URLs, mapping), run now so that a bad
// value names the variable it came from rather than an option the operator never wrote.
function checkAsAuthenticateWould(options: AuthenticatorOptions): void {
  try {
    createBearerAuthenticator(options, 'fromEnv');
  } catch (error) {
    if (error instanceof TypeError) {
      throw new TypeError(namingVariables(error.message.replace(/^fromEnv: /, '')));
    }
    throw error;
  }
}

// `option "publicKey": ...` -> `IDENTITY_PUBLIC_KEY (option "publicKey"): ...`
function namingVariables(message: string): string {
  return message.replace(/option "([^"]+)"/g, (whole, path: string) => {
    const variable = Object.entries(ENV_VARIABLES).find(
      ([, option]) => path === option || path.startsWith(`${option}.`),
    )?.[0];
    return variable === undefined ? whole : `${variable} (option "${path}")`;
  });
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return items.length === 0 ? undefined : items;
}

function integer(read: ReadVariable, name: VariableName): number | undefined {
  const value = read(name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new TypeError(`${name} must be a whole number of seconds, got "${value}"`);
  return Number(value);
}

function boolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new TypeError(`IDENTITY_REQUIRE_AT_JWT must be true or false, got "${value}"`);
}

function algorithms(value: string | undefined): JwsAlgorithm[] | undefined {
  const items = list(value);
  if (items === undefined) return undefined;
  const unknown = items.filter(
    (item) => !(SUPPORTED_ALGORITHMS as readonly string[]).includes(item),
  );
  if (unknown.length > 0) {
    throw new TypeError(
      `IDENTITY_ALGORITHMS lists ${unknown.join(', ')}, which ${unknown.length > 1 ? 'are' : 'is'} not supported (choose from ${SUPPORTED_ALGORITHMS.join(', ')})`,
    );
  }
  return items as JwsAlgorithm[];
}

function preset(value: string | undefined): ClaimPresetName | undefined {
  if (value === undefined) return undefined;
  if (!(CLAIM_PRESET_NAMES as readonly string[]).includes(value)) {
    throw new TypeError(
      `IDENTITY_CLAIM_PRESET must be one of ${CLAIM_PRESET_NAMES.join(', ')}, got "${value}"`,
    );
  }
  return value as ClaimPresetName;
}

function mapping(value: string | undefined): MappingConfig | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new TypeError(
      'IDENTITY_MAPPING is not valid JSON: expected {"claim_mapping": {...}, "role_mapping": {...}}',
    );
  }
  const result = mappingSchema().safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new TypeError(
      `IDENTITY_MAPPING at "${issue?.path.map(String).join('.') ?? ''}": ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}
