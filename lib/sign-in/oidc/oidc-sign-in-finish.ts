import * as client from 'openid-client';
import { isIdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { SignInRequest } from '../../core/sign-in-request.js';
import { idpUnavailable, isIdpUnreachable, signInFailed, signInRefused } from './oidc-errors.js';
import { oidcFailure } from './oidc-failure-reason.js';
import { idpTokensFrom } from './oidc-session-tokens.js';
import type { OidcSettings } from './oidc-settings.js';
import type { PendingSignIn } from './oidc-sign-in-start.js';
import type { IdpTokens } from './oidc-token-store.js';

/** A person signed in at the IdP, and the tokens the IdP gave for them. */
export interface CompletedSignIn {
  readonly identity: Identity;
  /** The IdP's tokens; `sessionEndsAtMs` is set when the package's session is known. */
  readonly tokens: Omit<IdpTokens, 'sessionEndsAtMs'>;
}

type FinishSettings = Pick<
  OidcSettings,
  'redirectUri' | 'maxAgeSec' | 'resource' | 'now' | 'mapper'
>;

/**
 * The finish of a sign-in on the callback request: the code exchanged through openid-client,
 * which checks state, nonce, PKCE and the RFC 9207 `iss`, and the ID token's claims mapped to
 * the person.
 */
export async function finishSignIn(
  settings: FinishSettings,
  config: client.Configuration,
  request: SignInRequest,
  pending: PendingSignIn,
): Promise<CompletedSignIn> {
  const tokens = await authorizationCodeGrant(settings, config, request, pending);
  const claims = tokens.claims();
  if (claims === undefined) throw signInFailed('id_token_missing');
  let identity: Identity;
  try {
    identity = settings.mapper.toIdentity(claims);
  } catch (error) {
    throw isIdentityError(error) ? error : signInRefused(error);
  }
  return { identity, tokens: idpTokensFrom(tokens, settings.now()) };
}

/** The token request for an authorization response, its failures told apart for the audit. */
async function authorizationCodeGrant(
  settings: FinishSettings,
  config: client.Configuration,
  request: SignInRequest,
  pending: PendingSignIn,
): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const query = new URL(request.url, settings.redirectUri).searchParams;
  // Neither a code nor an error: not an IdP's answer (a bookmarked or replayed callback URL).
  if (!query.has('code') && !query.has('error')) {
    throw signInFailed('not_an_authorization_response');
  }
  if (pending.codeVerifier === '') throw signInFailed('pending_sign_in_invalid');
  // The registered redirect URI with the IdP's parameters: what the IdP redirected to,
  // whatever host or path prefix a proxy in front of this server rewrote.
  const current = new URL(settings.redirectUri);
  for (const [name, value] of query) current.searchParams.append(name, value);
  try {
    return await client.authorizationCodeGrant(
      config,
      current,
      {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        // openid-client then checks the ID token's auth_time against it.
        ...(settings.maxAgeSec === undefined ? {} : { maxAge: settings.maxAgeSec }),
      },
      settings.resource === undefined ? undefined : { resource: settings.resource },
    );
  } catch (error) {
    throw codeGrantFailure(error);
  }
}

/** A failed code exchange as the package's error: declined, unreachable or refused. */
function codeGrantFailure(error: unknown): Error {
  if (isIdentityError(error)) return error;
  // The person declined at the IdP (or it refused them): a sign-in that did not complete,
  // told by the IdP's own OAuth error code.
  if (error instanceof client.AuthorizationResponseError && error.error === 'access_denied') {
    const failure = oidcFailure({
      message: error.error_description ?? error.error,
      ...Object.fromEntries(error.cause.entries()),
    });
    return failure.reason === 'invalid_response'
      ? signInFailed('pending_sign_in_invalid')
      : signInFailed(failure.reason, undefined, failure.oauthError);
  }
  return isIdpUnreachable(error) ? idpUnavailable('token', error) : signInRefused(error);
}
