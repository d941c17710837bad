import * as client from 'openid-client';
import { idpUnavailable } from './oidc-errors.js';
import { fetchWithTimeout } from './oidc-fetch.js';
import type { OidcSettings } from './oidc-settings.js';

/** The IdP's openid-client configuration, discovered on first use and then kept. */
export type OidcDiscovery = () => Promise<client.Configuration>;

/**
 * Discovery of the IdP (`/.well-known/openid-configuration`), shared by every sign-in and
 * refresh. A failure is `identity_provider_unavailable` (503).
 */
export function createOidcDiscovery(
  settings: Pick<OidcSettings, 'issuer' | 'clientId' | 'clientSecret' | 'timeoutMs'>,
): OidcDiscovery {
  let discovered: Promise<client.Configuration> | undefined;
  return () => {
    discovered ??= discover(settings).catch((error: unknown) => {
      // A failed discovery is retried on the next request rather than remembered.
      discovered = undefined;
      throw idpUnavailable('discovery', error);
    });
    return discovered;
  };
}

async function discover(
  settings: Pick<OidcSettings, 'issuer' | 'clientId' | 'clientSecret' | 'timeoutMs'>,
): Promise<client.Configuration> {
  const url = new URL(settings.issuer);
  // openid-client counts its timeout in whole seconds: it stays as an outer bound, and the
  // custom fetch holds every request to `timeoutMs`.
  const timeout = Math.ceil(settings.timeoutMs / 1000);
  const config = await client.discovery(
    url,
    settings.clientId,
    undefined,
    client.ClientSecretBasic(settings.clientSecret),
    {
      timeout,
      [client.customFetch]: fetchWithTimeout(settings.timeoutMs),
      // Plain HTTP only on the loopback interface (development, tests): `issuer` was checked.
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- loopback HTTP only, see above
      ...(url.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
    },
  );
  config.timeout = timeout;
  // openid-client 6 checks the ID token's claims but not its signature when it comes from
  // the token endpoint (OIDC Core §3.1.3.7 lets TLS stand in for it). This package does not
  // lean on that: a token endpoint reached through a TLS-intercepting proxy, a poisoned
  // DNS entry or plain HTTP in development could otherwise sign anyone in. The signature is
  // verified against the IdP's JWKS (`jwks_uri`), with the algorithm the client
  // registration or the IdP's metadata names (RS256 when neither does).
  client.enableNonRepudiationChecks(config);
  return config;
}
