import type { OidcSignInOptions } from '../../sign-in/oidc/oidc-options.js';
import { createOidcSignIn } from '../../sign-in/oidc/oidc-sign-in.js';
import { checkDiscovery } from './discovery-check.js';
import { fail, type DoctorCheck } from './doctor-check.js';
import { checkJwks } from './jwks-checks.js';

/**
 * Checks the OpenID Connect sign-in's settings: the options as `createOidcSignIn()` validates
 * them, the IdP's discovery document (reachable, naming the configured issuer, with a
 * `jwks_uri`), and the keys it publishes there (reachable, usable).
 *
 * @example
 * ```ts
 * const lines = await checkOidc(config.oidc, 5000);
 * ```
 */
export async function checkOidc(options: unknown, timeoutMs: number): Promise<DoctorCheck[]> {
  try {
    createOidcSignIn(options as OidcSignInOptions);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return [fail('oidc.options', error.message, 'Correct the option named.')];
  }
  const valid = options as OidcSignInOptions;
  const issuer = issuerOf(valid);
  const discovery = await checkDiscovery({
    entry: 'oidc',
    issuer,
    jwksUri: undefined,
    required: true,
    issuerSetting: valid.issuer === undefined ? 'option "tenant_id"' : 'option "issuer"',
    jwksSetting: "the IdP's jwks_uri",
    timeoutMs,
    fetch: globalThis.fetch,
  });
  const jwksUri = discovery.document?.['jwks_uri'];
  if (discovery.checks.some((check) => check.status === 'fail') || typeof jwksUri !== 'string') {
    return discovery.checks;
  }
  const keys = await checkJwks({
    entry: 'oidc',
    uri: jwksUri,
    algorithms: undefined,
    algorithmsSetting: "the IdP's signing algorithms",
    timeoutMs,
    fetch: globalThis.fetch,
  });
  return [...discovery.checks, ...keys];
}

// The sign-in discovers the option's issuer, or Entra ID's derived from its tenant (validated
// above: one of the two is there).
function issuerOf(options: OidcSignInOptions): string {
  return options.issuer ?? `https://login.microsoftonline.com/${options.tenant_id ?? ''}/v2.0`;
}
