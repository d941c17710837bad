import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { decodeJwt } from 'jose';
import passport from 'passport';
import { z } from 'zod';
import { auditTrailFrom } from '../audit/audit-options.js';
import { IdentityError, isIdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { checkSameOrigin, readSessionCookie } from '../core/session-cookie.js';
import { samlRefused } from '../sign-in/saml/saml-checks.js';
import { samlRefusedBy } from '../sign-in/saml/saml-failure-reason.js';
import type { SamlSignIn } from '../sign-in/saml/saml-sign-in.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { auditThenRespond } from './audit-decision.js';
import { identityErrorHandler } from './error-handler.js';
import { routePrelude } from './route-prelude.js';
import { browserSignInShape } from './sign-in-route-options.js';
export type { SignInHandler } from './sign-in-route-options.js';
import {
  compileSessionCookie,
  pendingCookie,
  PENDING_TTL_SEC,
  safeReturnPath,
} from './session-cookie.js';

const samlRoutesSchema = z.strictObject({
  /** The service provider from `createSamlSignIn()` (required). */
  saml: objectWithMethods<SamlSignIn>(
    ['checkPostedResponse', 'metadata', 'rememberSession', 'logoutUrl'],
    'must be the object createSamlSignIn() returns',
  ),
  /** The token service from `createSessionTokens()` (required). */
  tokens: objectWithMethods<SessionTokens>(
    ['issue', 'signOut'],
    'must be the object createSessionTokens() returns',
  ),
  ...browserSignInShape,
});

/** Options of {@link samlRoutes}. */
export type SamlRoutesOptions = z.input<typeof samlRoutesSchema>;

/**
 * The browser routes of SAML sign-in, as a router (mount it where the ACS URL points):
 * - `GET /login?returnTo=/path`: redirects to the IdP with a sign-in request; `returnTo` must
 *   be a same-site path (anything else becomes `/`: no open redirect);
 * - `POST /acs`: the IdP's response (HTTP-POST binding). On success, the session token is set
 *   as an HttpOnly cookie and the browser is sent to `returnTo` (303);
 * - `GET /metadata`: this service provider's metadata for the IdP;
 * - `POST /logout`: ends the session (same-origin requests only) and clears the cookie.
 *
 * Every outcome is audited; a malformed or forged response is a 401, never a 500.
 *
 * @example
 * ```ts
 * app.use('/auth/saml', samlRoutes({ saml, tokens: sessions, audit }));
 * app.use('/ai', authenticate({ issuers: [sessions.trustedIssuer()],
 *   sessionCookie: { allowedOrigins: ['https://assistant.example.com'] } }));
 * ```
 */
export function samlRoutes(options: SamlRoutesOptions): Router {
  const parsed = parseOptions(samlRoutesSchema, options, 'samlRoutes');
  const { saml, tokens, onSignIn, source, generateRequestId } = parsed;
  const trail = auditTrailFrom(parsed);
  const now = parsed.now ?? Date.now;
  const cookie = compileSessionCookie(parsed.cookie);
  const allowedOrigins = new Set(parsed.allowedOrigins ?? [new URL(saml.acsUrl).origin]);
  const pending = pendingCookie('saml', parsed.cookie?.secure ?? true, 'none');
  // A private passport instance: the application's own passport setup is left alone.
  const authenticator = new passport.Passport();
  // passport-saml is typed against Express 4's declarations; the strategy is the same object.
  authenticator.use('saml', saml.strategy as unknown as passport.Strategy);
  const router = express.Router();

  router.use(routePrelude({ trail, source, generateRequestId }));

  router.get('/metadata', (_req, res) => {
    res.type('application/samlmetadata+xml').send(saml.metadata());
  });

  router.get('/login', (req, res, next) => {
    void (async () => {
      try {
        const returnTo = safeReturnPath(req.query['returnTo']);
        const { url, requestId } = await saml.start(req, returnTo);
        // The request is bound to this browser: a response to it is accepted only from a
        // browser holding this cookie, so nobody can sign a victim in as themselves (login
        // CSRF) by making their browser post a response obtained elsewhere.
        const sealed = await tokens.sealState({ requestId, returnTo }, PENDING_TTL_SEC);
        res.append('Set-Cookie', pending.serialize(sealed, PENDING_TTL_SEC));
        res.redirect(302, url);
      } catch (error) {
        const refusal = isIdentityError(error)
          ? error
          : new IdentityError('internal_error', 'The sign-in could not be started.', {
              cause: error,
            });
        settle(req, next, { action: 'sign_in', identity: undefined, error: refusal }, () => {
          next(refusal);
        });
      }
    })();
  });

  router.post(
    '/acs',
    express.urlencoded({ extended: false, limit: 4 * 1024 * 1024, parameterLimit: 10 }),
    (req, res, next) => {
      const refuse = (error: unknown, identity?: Identity): void => {
        const refusal = isIdentityError(error) ? error : samlRefusedBy(error);
        settle(req, next, { action: 'sign_in', identity, error: refusal }, () => {
          next(refusal);
        });
      };
      const form = (req.body ?? {}) as Record<string, unknown>;
      const sealed = readSessionCookie(req.headers.cookie, pending.name);
      res.append('Set-Cookie', pending.serialize('', 0));
      try {
        saml.checkPostedResponse(form['SAMLResponse']);
        if (sealed === undefined && !saml.allowsIdpInitiated) {
          throw samlRefused('no_pending_sign_in');
        }
      } catch (error) {
        refuse(error);
        return;
      }
      const expected =
        sealed === undefined
          ? Promise.resolve(undefined)
          : tokens.openState(sealed).catch(() => undefined);
      const finish = authenticator.authenticate(
        'saml',
        { session: false },
        (error: unknown, user: unknown) => {
          if (error !== null && error !== undefined) {
            refuse(error);
            return;
          }
          if (typeof user !== 'object' || user === null || !('subject' in user)) {
            refuse(samlRefused('no_identity'));
            return;
          }
          const identity = user as Identity;
          void expected.then((bound) => {
            const answered = saml.answeredRequest(identity);
            if (
              (bound === undefined && !saml.allowsIdpInitiated) ||
              (bound !== undefined && bound['requestId'] !== answered)
            ) {
              refuse(samlRefused('response_for_another_browser'), identity);
              return;
            }
            issue(identity, bound?.['returnTo'] ?? form['RelayState']);
          });
        },
      ) as RequestHandler;
      finish(req, res, next);

      function issue(identity: Identity, returnToInput: unknown): void {
        tokens.issue(identity).then(
          (session) => {
            saml.rememberSession(
              session.sessionId,
              identity,
              now() + session.refreshExpiresIn * 1000,
            );
            const returnTo = safeReturnPath(returnToInput);
            settle(
              req,
              next,
              { action: 'sign_in', identity, details: { session_id: session.sessionId } },
              () => {
                if (onSignIn !== undefined) {
                  onSignIn(req, res, { ...session, returnTo });
                  return;
                }
                cookie.set(res, session.accessToken, session.expiresIn);
                res.redirect(303, returnTo);
              },
            );
          },
          (issueError: unknown) => {
            refuse(issueError, identity);
          },
        );
      }
    },
  );

  router.post('/logout', (req, res, next) => {
    void (async () => {
      let identity: Identity | undefined;
      let idpLogout: string | undefined;
      try {
        checkSameOrigin('POST', req.headers, allowedOrigins);
        const token = readSessionCookie(req.headers.cookie, cookie.name);
        if (token !== undefined) {
          identity = await tokens.signOut(token);
          // Verified by signOut() just above; read again for the session id.
          const { sid } = decodeJwt(token);
          if (typeof sid === 'string') idpLogout = await saml.logoutUrl(sid);
        }
      } catch (error) {
        const refusal = isIdentityError(error)
          ? error
          : new IdentityError('internal_error', 'Sign-out failed.', { cause: error });
        settle(req, next, { action: 'sign_out', identity, error: refusal }, () => {
          next(refusal);
        });
        return;
      }
      settle(req, next, { action: 'sign_out', identity }, () => {
        cookie.clear(res);
        // Single logout: the IdP ends its own session too, then returns to its logout URL.
        res.redirect(303, idpLogout ?? '/');
      });
    })();
  });

  router.use((error: unknown, req: Request, _res: Response, next: NextFunction) => {
    // Bodies refused by the parser never reached the handler: a SAML refusal like the others.
    if (isIdentityError(error)) {
      next(error);
      return;
    }
    const refusal =
      (error as { type?: unknown }).type === 'entity.too.large'
        ? new IdentityError('request_too_large', 'The SAMLResponse is too large.')
        : samlRefused('unreadable_body');
    settle(req, next, { action: 'sign_in', identity: undefined, error: refusal }, () => {
      next(refusal);
    });
  });
  router.use(identityErrorHandler());
  return router;

  function settle(
    req: Request,
    next: NextFunction,
    decision: Omit<Parameters<typeof auditThenRespond>[2], 'now'>,
    respond: () => void,
  ): void {
    auditThenRespond(req, next, { ...decision, now }, respond);
  }
}
