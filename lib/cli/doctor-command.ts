import { EXIT, UsageError, type CommandIo } from './explain/command-io.js';
import { DOCTOR_USAGE, parseDoctorArguments } from './doctor/doctor-arguments.js';
import { renderDoctor } from './doctor/render-doctor.js';

/** One line for the executable's `--help`. */
export const DOCTOR_SUMMARY =
  'check the configuration against the systems it names (JWKS, LDAP, SAML, OIDC, audit file, Redis)';

/**
 * `express-identity-passthrough doctor`: checks the configuration against the systems it
 * names (JWKS and keys, discovery, the directory, the SAML IdP certificate, the OIDC provider,
 * the audit file, Redis), each only when configured, one line per check. Settings come from the
 * environment (`fromEnv()`) and `--config <module>`; each check that talks to a server is
 * bounded by `--timeout-ms` (default 5000). Passwords, keys and tokens are never printed.
 *
 * Resolves to the exit code: 0 when no check failed (warnings allowed), 1 when one did, 2 for
 * a usage error or when nothing is configured.
 *
 * @example
 * ```ts
 * const code = await run(['--config', 'identity.config.mjs'], {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 * });
 * ```
 */
export async function run(args: string[], io: CommandIo): Promise<number> {
  try {
    const parsed = parseDoctorArguments(args);
    if (parsed.help) {
      io.stdout.write(DOCTOR_USAGE);
      return EXIT.ok;
    }
    const cwd = io.cwd ?? process.cwd();
    // Loaded here rather than with the executable: the other commands need none of it.
    const [{ loadDoctorConfig }, { runDoctor }] = await Promise.all([
      import('./doctor/doctor-config.js'),
      import('./doctor/run-doctor.js'),
    ]);
    const config = await loadDoctorConfig({
      config: parsed.config,
      env: io.env ?? process.env,
      cwd,
    });
    if (Object.values(config).every((entry) => entry === undefined)) {
      throw new UsageError(
        'nothing to check: set the variables fromEnv() reads (JWT_ISSUER, JWT_AUDIENCE, OAUTH_JWKS_URL...), or pass --config',
      );
    }
    const checks = await runDoctor(config, {
      ldapUser: parsed.ldapUser,
      timeoutMs: parsed.timeoutMs,
      cwd,
    });
    const failed = checks.some((check) => check.status === 'fail');
    io.stdout.write(
      parsed.json ? `${JSON.stringify({ ok: !failed, checks }, null, 2)}\n` : renderDoctor(checks),
    );
    return failed ? EXIT.failed : EXIT.ok;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(
      `doctor: ${error.message}\nRun "express-identity-passthrough doctor --help" for usage.\n`,
    );
    return EXIT.usage;
  }
}
