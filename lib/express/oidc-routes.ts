import express, { type NextFunction, type Request, type Router } from 'express';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { auditTrailFrom } from '../audit/audit-options.js';
import { IdentityError, isIdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { checkSameOrigin, readSessionCookie } from '../core/session-cookie.js';
import { signInFailed } from '../sign-in/oidc/oidc-errors.js';
import type { OidcSignIn, PendingSignIn } from '../sign-in/oidc/oidc-sign-in.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { auditThenRespond } from './audit-decision.js';
import { identityErrorHandler } from './error-handler.js';
import { routePrelude } from './route-prelude.js';
import { browserSignInShape } from './sign-in-route-options.js';
import {
  compileSessionCookie,
  pendingCookie,
  PENDING_TTL_SEC,
  safeReturnPath,
} from './session-cookie.js';

const oidcRoutesSchema = z.strictObject({
  /** The relying party from `createOidcSignIn()` (required). */
  oidc: objectWithMethods<OidcSignIn>(
    ['start', 'finish', 'keep', 'forget'],
    'must be the object createOidcSignIn() returns',
  ),
  /** The token service from `createSessionTokens()` (required). */
  tokens: objectWithMethods<SessionTokens>(
    ['issue', 'signOut', 'sealState', 'openState'],
    'must be the object createSessionTokens() returns',
  ),
  ...browserSignInShape,
});

/** Options of {@link oidcRoutes}. */
export type OidcRoutesOptions = z.input<typeof oidcRoutesSchema>;

/**
 * The browser routes of OIDC sign-in, as a router mounted where `redirect_uri` points:
 * - `GET /login?returnTo=/path`: redirects to the IdP (authorization code, PKCE S256, state,
 *   nonce). What the callback needs is sealed into a short-lived HttpOnly cookie, so any
 *   instance can finish the sign-in;
 * - `GET /callback`: checks state, nonce, PKCE and the RFC 9207 `iss`, keeps the IdP's tokens
 *   server-side, sets the session cookie and returns to `returnTo` (same-site paths only);
 * - `POST /logout`: ends the session (same-origin requests only).
 *
 * @example
 * ```ts
 * app.use('/auth/oidc', oidcRoutes({ oidc, tokens: sessions, audit }));
 * ```
 */
export function oidcRoutes(options: OidcRoutesOptions): Router {
  const parsed = parseOptions(oidcRoutesSchema, options, 'oidcRoutes');
  const { oidc, tokens, onSignIn, source, generateRequestId } = parsed;
  const trail = auditTrailFrom(parsed);
  const now = parsed.now ?? Date.now;
  const cookie = compileSessionCookie(parsed.cookie);
  const pending = pendingCookie('oidc', parsed.cookie?.secure ?? true, 'lax');
  const allowedOrigins = new Set(parsed.allowedOrigins ?? [new URL(oidc.redirectUri).origin]);
  const router = express.Router();

  router.use(routePrelude({ trail, source, generateRequestId }));

  router.get('/login', (req, res, next) => {
    void (async () => {
      try {
        const { url, pending: started } = await oidc.start();
        const sealed = await tokens.sealState(
          { ...started, returnTo: safeReturnPath(req.query['returnTo']) },
          PENDING_TTL_SEC,
        );
        res.append('Set-Cookie', pending.serialize(sealed, PENDING_TTL_SEC));
        res.redirect(302, url.href);
      } catch (error) {
        fail(req, next, 'sign_in', undefined, error);
      }
    })();
  });

  router.get('/callback', (req, res, next) => {
    void (async () => {
      let identity: Identity | undefined;
      try {
        // The pending sign-in is bound to this browser: a callback URL replayed in another
        // browser (login CSRF, a leaked code) finds no cookie and is refused.
        const sealed = readSessionCookie(req.headers.cookie, pending.name);
        res.append('Set-Cookie', pending.serialize('', 0));
        if (sealed === undefined) throw signInFailed('no_pending_sign_in');
        // A callback with neither a code nor an error is not an IdP's answer; passport would
        // take it for a new sign-in and redirect, leaving this one unsettled.
        if (req.query['code'] === undefined && req.query['error'] === undefined) {
          throw signInFailed('not_an_authorization_response');
        }
        const stored = await tokens.openState(sealed).catch((cause: unknown) => {
          throw signInFailed('pending_sign_in_invalid', cause);
        });
        const started: PendingSignIn = {
          codeVerifier: stored['codeVerifier'] ?? '',
          state: stored['state'] ?? '',
          nonce: stored['nonce'] ?? '',
        };
        const completed = await oidc.finish(req, res, started);
        identity = completed.identity;
        const session = await tokens.issue(identity);
        await oidc.keep(session.sessionId, {
          ...completed.tokens,
          sessionEndsAtMs: now() + session.refreshExpiresIn * 1000,
        });
        const returnTo = safeReturnPath(stored['returnTo']);
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
      } catch (error) {
        fail(req, next, 'sign_in', identity, error);
      }
    })();
  });

  router.post('/logout', (req, res, next) => {
    void (async () => {
      let identity: Identity | undefined;
      try {
        checkSameOrigin('POST', req.headers, allowedOrigins);
        const token = readSessionCookie(req.headers.cookie, cookie.name);
        if (token !== undefined) {
          identity = await tokens.signOut(token);
          // Verified by signOut() just above; read again for the session id.
          const { sid } = decodeJwt(token);
          if (typeof sid === 'string') await oidc.forget(sid);
        }
      } catch (error) {
        fail(req, next, 'sign_out', identity, error);
        return;
      }
      settle(req, next, { action: 'sign_out', identity }, () => {
        cookie.clear(res);
        res.redirect(303, '/');
      });
    })();
  });

  router.use(identityErrorHandler());
  return router;

  function fail(
    req: Request,
    next: NextFunction,
    action: string,
    identity: Identity | undefined,
    error: unknown,
  ): void {
    const refusal = isIdentityError(error)
      ? error
      : new IdentityError('internal_error', 'The sign-in could not be completed.', {
          cause: error,
        });
    settle(req, next, { action, identity, error: refusal }, () => {
      next(refusal);
    });
  }

  function settle(
    req: Request,
    next: NextFunction,
    decision: Omit<Parameters<typeof auditThenRespond>[2], 'now'>,
    respond: () => void,
  ): void {
    auditThenRespond(req, next, { ...decision, now }, respond);
  }
}
