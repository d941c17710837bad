import type {
  BrowserSession,
  BrowserSessions,
  BrowserSignInMethod,
  FinishedSignIn,
} from '../../core/browser-sign-in.js';
import { IdentityError } from '../../core/errors.js';
import { signInFailed } from './oidc-errors.js';
import type { CompletedSignIn, OidcSignIn } from './oidc-sign-in.js';

/** An OIDC sign-in completed at the callback, with the return path its pending cookie held. */
export type FinishedOidcSignIn = FinishedSignIn & CompletedSignIn;

/**
 * OIDC as a method of the shared browser sign-in: the pending cookie carries PKCE, state and
 * nonce; the IdP's tokens are kept server-side for as long as the package's session lasts.
 */
export function oidcBrowserMethod<Session extends BrowserSession>(
  oidc: OidcSignIn,
  sessions: BrowserSessions<Session>,
  now: () => number,
): BrowserSignInMethod<FinishedOidcSignIn, Session> {
  return {
    name: 'oidc',
    pendingSameSite: 'lax',
    answerUrl: oidc.redirectUri,
    async start() {
      const { url, pending } = await oidc.start();
      return { url: url.href, pending: { ...pending } };
    },
    async finish(request, sealed) {
      // The pending sign-in is bound to this browser: a callback URL replayed in another
      // browser (login CSRF, a leaked code) finds no cookie and is refused.
      if (sealed === undefined) throw signInFailed('no_pending_sign_in');
      const stored = await sessions.openState(sealed).catch((cause: unknown) => {
        throw signInFailed('pending_sign_in_invalid', cause);
      });
      const completed = await oidc.finish(request, {
        codeVerifier: stored['codeVerifier'] ?? '',
        state: stored['state'] ?? '',
        nonce: stored['nonce'] ?? '',
      });
      return { ...completed, returnTo: stored['returnTo'] };
    },
    async keep(session, finished) {
      await oidc.keep(session.sessionId, {
        ...finished.tokens,
        sessionEndsAtMs: now() + session.refreshExpiresIn * 1000,
      });
    },
    async signOut(sessionId) {
      await oidc.forget(sessionId);
      return undefined;
    },
    unexpected: (_step, cause) =>
      new IdentityError('internal_error', 'The sign-in could not be completed.', { cause }),
  };
}
