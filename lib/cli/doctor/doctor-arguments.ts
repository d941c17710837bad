import { parseArgs } from 'node:util';
import { UsageError } from '../explain/command-io.js';
import { DEFAULT_CHECK_TIMEOUT_MS } from './doctor-check.js';

/** The usage text of `doctor`. */
export const DOCTOR_USAGE = `Usage: express-identity-passthrough doctor [options]

Checks the configuration against the systems it names, one line per check
(ok, warn or FAIL, what was found, the fix): the JWKS and its keys, the issuer's
discovery document, the directory (reachable, TLS, service account, a user), the
SAML IdP certificate, the OIDC provider, the audit file and Redis. Each only when
configured. Passwords, keys and tokens are never printed.

Settings: the environment variables fromEnv() reads (JWT_ISSUER, JWT_AUDIENCE,
OAUTH_JWKS_URL...), and --config for the other entries.

Options:
  --config <module>     a module exporting { bearer, ldap, saml, oidc, redis, audit }
                        (named exports or a default export object), each the options
                        of authenticate(), createLdapAuthenticator(), createSamlSignIn(),
                        createOidcSignIn(), { url } or { client } for Redis, and
                        { filename } for the audit file
  --ldap-user <name>    a directory user to look up, with their groups and roles
  --timeout-ms <ms>     time limit per check (default ${DEFAULT_CHECK_TIMEOUT_MS})
  --json                machine-readable output
  -h, --help            this text

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 usage error
or nothing to check.
`;

/** `doctor`'s command line, read. */
export interface DoctorArguments {
  readonly help: boolean;
  readonly json: boolean;
  readonly config: string | undefined;
  readonly ldapUser: string | undefined;
  readonly timeoutMs: number;
}

/**
 * Reads `doctor`'s arguments with `node:util`'s `parseArgs`; an unknown option, a positional
 * argument or a time limit outside 100 ms to 60 s is a {@link UsageError}.
 *
 * @example
 * ```ts
 * parseDoctorArguments(['--config', 'identity.config.mjs', '--ldap-user', 'alice']).ldapUser; // 'alice'
 * ```
 */
export function parseDoctorArguments(args: readonly string[]): DoctorArguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: 'string' },
        'ldap-user': { type: 'string' },
        'timeout-ms': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  const timeout = values['timeout-ms'] ?? String(DEFAULT_CHECK_TIMEOUT_MS);
  const timeoutMs = /^\d{3,5}$/.test(timeout) ? Number(timeout) : Number.NaN;
  if (!(timeoutMs >= 100 && timeoutMs <= 60_000)) {
    throw new UsageError(`--timeout-ms must be a whole number from 100 to 60000, got "${timeout}"`);
  }
  return {
    help: values.help === true,
    json: values.json === true,
    config: values.config,
    ldapUser: values['ldap-user'],
    timeoutMs,
  };
}
