import type { DoctorConfig } from './doctor-config.js';
import type { DoctorCheck } from './doctor-check.js';

/** What the doctor was asked beyond the configuration. */
export interface DoctorRequest {
  /** A directory user to look up (`--ldap-user`). */
  readonly ldapUser: string | undefined;
  /** Per check that talks to a server. Default: 5000 (5 seconds). */
  readonly timeoutMs: number;
  /** The directory a relative audit file name is resolved from. */
  readonly cwd: string;
}

/**
 * Runs every check whose entry is configured, one entry after the other (a deployment
 * pipeline reads the lines in a stable order), and returns the lines. The LDAP, SAML and OIDC
 * checks are loaded only when their entry is configured, so a bearer-only check never loads
 * an LDAP or XML library.
 *
 * @example
 * ```ts
 * const checks = await runDoctor(config, { ldapUser: 'alice', timeoutMs: 5000, cwd: process.cwd() });
 * const failed = checks.some((check) => check.status === 'fail');
 * ```
 */
export async function runDoctor(
  config: DoctorConfig,
  request: DoctorRequest,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  if (config.bearer !== undefined) {
    const { checkBearer } = await import('./bearer-checks.js');
    checks.push(...(await checkBearer(config.bearer, request.timeoutMs)));
  }
  if (config.ldap !== undefined) {
    const { checkLdap } = await import('./ldap-checks.js');
    checks.push(
      ...(await checkLdap(config.ldap, { user: request.ldapUser, timeoutMs: request.timeoutMs })),
    );
  }
  if (config.saml !== undefined) {
    const { checkSaml } = await import('./saml-checks.js');
    checks.push(...checkSaml(config.saml));
  }
  if (config.oidc !== undefined) {
    const { checkOidc } = await import('./oidc-checks.js');
    checks.push(...(await checkOidc(config.oidc, request.timeoutMs)));
  }
  if (config.audit !== undefined) {
    const { checkAuditFile } = await import('./audit-check.js');
    checks.push(await checkAuditFile(config.audit, request.cwd));
  }
  if (config.redis !== undefined) {
    const { checkRedis } = await import('./redis-check.js');
    checks.push(await checkRedis(config.redis, request.timeoutMs));
  }
  return checks;
}
