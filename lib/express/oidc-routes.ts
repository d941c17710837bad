import express, { type Router } from 'express';
import type { z } from 'zod';
import { createBrowserSignIn } from '../core/browser-sign-in.js';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { oidcBrowserMethod } from '../sign-in/oidc/oidc-browser-method.js';
import type { OidcSignIn } from '../sign-in/oidc/oidc-sign-in.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { browserSignInRoutes } from './browser-sign-in-routes.js';
import { identityErrorHandler } from './error-handler.js';
import { browserSignInShape } from './sign-in-route-options.js';

const oidcRoutesSchema = lazySchema((z) =>
  z.strictObject({
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
    ...browserSignInShape(),
  }),
);

/** Options of {@link oidcRoutes}. */
export type OidcRoutesOptions = z.input<ReturnType<typeof oidcRoutesSchema>>;

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
  const parsed = parseOptions(oidcRoutesSchema(), options, 'oidcRoutes');
  const { oidc, tokens } = parsed;
  const flow = createBrowserSignIn(
    { sessions: tokens, cookie: parsed.cookie, allowedOrigins: parsed.allowedOrigins },
    oidcBrowserMethod(oidc, tokens, parsed.now ?? Date.now),
  );
  const routes = browserSignInRoutes(parsed, flow);
  const router = express.Router();
  router.use(routes.prelude);
  router.get('/login', routes.login);
  router.get('/callback', routes.answer);
  router.post('/logout', routes.logout);
  router.use(identityErrorHandler());
  return router;
}
