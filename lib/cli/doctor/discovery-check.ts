import { readBoundedText } from '../../core/bounded-body.js';
import { isRecord } from '../explain/config-module.js';
import { bounded } from '../explain/token-view.js';
import { fail, ok, problemOf, warn, withinTimeout, type DoctorCheck } from './doctor-check.js';

// Discovery documents are a few KiB; Entra ID's is about 2.
const MAX_DISCOVERY_BYTES = 256 * 1024;

/** What is compared with an issuer's discovery document. */
export interface DiscoveryCheckInput {
  /** The report's prefix: `bearer`, `oidc`. */
  readonly entry: string;
  readonly issuer: string;
  /** The JWKS URL configured beside the issuer, to compare with the document's `jwks_uri`. */
  readonly jwksUri: string | undefined;
  /** True when the application needs the document (OIDC sign-in); false when it only helps. */
  readonly required: boolean;
  /** How the operator names the issuer and JWKS settings (`JWT_ISSUER`, `option "issuer"`). */
  readonly issuerSetting: string;
  readonly jwksSetting: string;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch;
}

/**
 * Reads `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery §4) and checks it
 * against the settings: its `issuer` must equal the configured one character for character
 * (tokens carry that value in `iss`), and its `jwks_uri` the configured JWKS URL when both are
 * given. A missing or unreachable document fails where the application needs it (OIDC sign-in)
 * and is a warning where it only cross-checks (bearer tokens with a JWKS URL).
 *
 * @example
 * ```ts
 * const { checks, document } = await checkDiscovery({ entry: 'oidc', issuer, jwksUri: undefined,
 *   required: true, issuerSetting: 'option "issuer"', jwksSetting: 'option "jwksUri"', timeoutMs: 5000, fetch });
 * ```
 */
export async function checkDiscovery(
  input: DiscoveryCheckInput,
): Promise<{ checks: DoctorCheck[]; document: Record<string, unknown> | undefined }> {
  const id = `${input.entry}.discovery`;
  const url = `${input.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let document: unknown;
  try {
    document = await withinTimeout(input.timeoutMs, async (signal) => {
      const response = await input.fetch(url, { redirect: 'error', signal });
      if (!response.ok) {
        await response.body?.cancel();
        throw Object.assign(new Error('status'), { code: `HTTP ${response.status}` });
      }
      return JSON.parse(await readBoundedText(response, MAX_DISCOVERY_BYTES)) as unknown;
    });
  } catch (error) {
    const what = `no discovery document at ${url}: ${problemOf(error)}`;
    const check = input.required
      ? fail(
          id,
          what,
          `Check ${input.issuerSetting}: it must be the issuer's URL exactly, and reachable from this machine.`,
        )
      : warn(
          id,
          `${what}; the issuer and the JWKS URL could not be cross-checked`,
          'Nothing to do if this issuer publishes no discovery document.',
        );
    return { checks: [check], document: undefined };
  }
  if (!isRecord(document)) {
    return {
      checks: [fail(id, `${url} is not a discovery document`, `Check ${input.issuerSetting}.`)],
      document: undefined,
    };
  }
  return { checks: [compare(input, url, document)], document };
}

function compare(
  input: DiscoveryCheckInput,
  url: string,
  document: Record<string, unknown>,
): DoctorCheck {
  const id = `${input.entry}.discovery`;
  const issuer = typeof document['issuer'] === 'string' ? document['issuer'] : undefined;
  if (issuer !== input.issuer) {
    return fail(
      id,
      `${url} names the issuer "${bounded(issuer ?? '')}", the settings "${input.issuer}"`,
      `Set ${input.issuerSetting} to "${bounded(issuer ?? '')}" exactly: tokens carry it in "iss", trailing slash and all.`,
    );
  }
  const jwksUri = typeof document['jwks_uri'] === 'string' ? document['jwks_uri'] : undefined;
  if (jwksUri === undefined) {
    return fail(
      id,
      `${url} names no jwks_uri`,
      'The identity provider publishes no keys for its tokens; check its configuration.',
    );
  }
  if (input.jwksUri !== undefined && jwksUri !== input.jwksUri) {
    return fail(
      id,
      `the issuer publishes its keys at ${bounded(jwksUri)}, the settings name ${input.jwksUri}`,
      `Set ${input.jwksSetting} to ${bounded(jwksUri)}: keys from elsewhere do not verify this issuer's tokens.`,
    );
  }
  return ok(
    id,
    `${url} names this issuer${input.jwksUri === undefined ? '' : ' and this JWKS URL'}`,
  );
}
