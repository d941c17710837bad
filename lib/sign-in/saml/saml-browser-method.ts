import type {
  BrowserSession,
  BrowserSessions,
  BrowserSignInMethod,
  FinishedSignIn,
} from '../../core/browser-sign-in.js';
import { IdentityError } from '../../core/errors.js';
import { samlRefusedBy } from './saml-failure-reason.js';
import type { CompletedSamlSignIn, SamlSignIn } from './saml-sign-in.js';

/** A SAML sign-in completed at the ACS, with the return path to send the browser to. */
export type FinishedSamlSignIn = FinishedSignIn & CompletedSamlSignIn;

/**
 * SAML as a method of the shared browser sign-in: the pending cookie carries the AuthnRequest's
 * id, which the response must answer; single logout is remembered for the session's lifetime.
 */
export function samlBrowserMethod<Session extends BrowserSession>(
  saml: SamlSignIn,
  sessions: BrowserSessions<Session>,
  now: () => number,
): BrowserSignInMethod<FinishedSamlSignIn, Session> {
  return {
    name: 'saml',
    pendingSameSite: 'none',
    answerUrl: saml.acsUrl,
    async start(returnTo) {
      const { url, requestId } = await saml.start(returnTo);
      return { url, pending: { requestId } };
    },
    async finish(request, sealed) {
      // An unreadable pending cookie binds to no request: only an unsolicited response, when
      // allowed, can then complete.
      const bound =
        sealed === undefined ? undefined : await sessions.openState(sealed).catch(() => undefined);
      const completed = await saml.finish(
        request,
        sealed === undefined ? undefined : { requestId: bound?.['requestId'] },
      );
      return { ...completed, returnTo: bound?.['returnTo'] ?? completed.relayState };
    },
    keep(session, finished) {
      saml.rememberSession(
        session.sessionId,
        finished.identity,
        now() + session.refreshExpiresIn * 1000,
      );
      return Promise.resolve();
    },
    // Single logout: the IdP ends its own session too, then returns to its logout URL.
    signOut: (sessionId) => saml.logoutUrl(sessionId),
    unexpected: (step, cause) =>
      step === 'finish'
        ? samlRefusedBy(cause)
        : new IdentityError(
            'internal_error',
            step === 'start' ? 'The sign-in could not be started.' : 'Sign-out failed.',
            { cause },
          ),
  };
}
