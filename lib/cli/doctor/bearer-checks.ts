import { createBearerAuthenticator } from '../../bearer/bearer-authenticator.js';
import { issuerViews, settingName, type BearerSettings } from '../explain/bearer-settings.js';
import { lookUpKey } from '../explain/key-report.js';
import { onceFetch } from '../explain/once-fetch.js';
import { checkDiscovery } from './discovery-check.js';
import { fail, ok, type DoctorCheck } from './doctor-check.js';
import { checkJwks } from './jwks-checks.js';

/**
 * Checks the bearer-token settings against the systems they name: the options as
 * `createBearerAuthenticator()` validates them (a bad one fails here, named), then for each
 * trusted issuer its JWKS (reachable, keys usable) and its discovery document (consistent with
 * the issuer and the JWKS URL). Static keys need no network; their strength was checked with
 * the options.
 *
 * @example
 * ```ts
 * const lines = await checkBearer(settings, 5000);
 * ```
 */
export async function checkBearer(
  settings: BearerSettings | { readonly problem: string },
  timeoutMs: number,
): Promise<DoctorCheck[]> {
  if ('problem' in settings) {
    return [fail('bearer.options', settings.problem, 'Correct the variable or option named.')];
  }
  try {
    createBearerAuthenticator(settings.options, 'createBearerAuthenticator');
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return [
      fail('bearer.options', `${settings.label}: ${error.message}`, 'Correct the option named.'),
    ];
  }
  const name = (option: string) => settingName(settings, option);
  const fetch = settings.options.fetch ?? globalThis.fetch;
  const checks: DoctorCheck[] = [];
  for (const view of issuerViews(settings.options)) {
    checks.push(
      ok(
        'bearer.options',
        `issuer "${view.issuer}", audience ${view.audience.join(', ')} (${settings.label})`,
      ),
    );
    if (view.keys.kind !== 'jwksUri') {
      const { report } = await lookUpKey(view, undefined, onceFetch(fetch));
      const found = report.keyFound ?? `${report.kidsOffered?.length ?? 0} keys, chosen by kid`;
      const algorithms = report.algorithms.length === 0 ? '' : ` (${report.algorithms.join(', ')})`;
      checks.push(ok('bearer.keys', `${report.source}: ${found}${algorithms}`));
      continue;
    }
    checks.push(
      ...(await checkJwks({
        entry: 'bearer',
        uri: view.keys.uri,
        algorithms: view.algorithms,
        algorithmsSetting: name('algorithms'),
        timeoutMs,
        fetch,
      })),
    );
    if (/^https?:\/\//.test(view.issuer)) {
      const discovery = await checkDiscovery({
        entry: 'bearer',
        issuer: view.issuer,
        jwksUri: view.keys.uri,
        required: false,
        issuerSetting: name('issuer'),
        jwksSetting: name('jwksUri'),
        timeoutMs,
        fetch,
      });
      checks.push(...discovery.checks);
    }
  }
  return checks;
}
