import * as client from 'openid-client';
import type { OidcSettings } from './oidc-settings.js';

/** What the browser must bring back to finish a sign-in: kept in a sealed cookie meanwhile. */
export interface PendingSignIn {
  readonly codeVerifier: string;
  readonly state: string;
  readonly nonce: string;
}

/**
 * The start of a sign-in: a fresh PKCE verifier, state and nonce, and the IdP's authorization
 * URL that carries them (the verifier as its S256 challenge).
 */
export async function startSignIn(
  settings: Pick<OidcSettings, 'authorizationParameters' | 'redirectUri' | 'scopes' | 'resource'>,
  config: client.Configuration,
): Promise<{ url: URL; pending: PendingSignIn }> {
  const pending: PendingSignIn = {
    codeVerifier: client.randomPKCECodeVerifier(),
    state: client.randomState(),
    nonce: client.randomNonce(),
  };
  const url = client.buildAuthorizationUrl(config, {
    // First, so that nothing below can be overridden (reserved names are refused anyway).
    ...settings.authorizationParameters,
    redirect_uri: settings.redirectUri,
    scope: settings.scopes.join(' '),
    code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
    code_challenge_method: 'S256',
    state: pending.state,
    nonce: pending.nonce,
    ...(settings.resource === undefined ? {} : { resource: settings.resource }),
  });
  return { url, pending };
}
