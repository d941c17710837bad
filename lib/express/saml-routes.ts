import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import { createBrowserSignIn } from '../core/browser-sign-in.js';
import { IdentityError, isIdentityError } from '../core/errors.js';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { samlBrowserMethod } from '../sign-in/saml/saml-browser-method.js';
import { samlRefused } from '../sign-in/saml/saml-checks.js';
import type { SamlSignIn } from '../sign-in/saml/saml-sign-in.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { browserSignInRoutes } from './browser-sign-in-routes.js';
import { identityErrorHandler } from './error-handler.js';
import { browserSignInShape } from './sign-in-route-options.js';
export type { SignInHandler } from './sign-in-route-options.js';

const samlRoutesSchema = lazySchema((z) =>
  z.strictObject({
    /** The service provider from `createSamlSignIn()` (required). */
    saml: objectWithMethods<SamlSignIn>(
      ['start', 'finish', 'metadata', 'rememberSession', 'logoutUrl'],
      'must be the object createSamlSignIn() returns',
    ),
    /** The token service from `createSessionTokens()` (required). */
    tokens: objectWithMethods<SessionTokens>(
      ['issue', 'signOut'],
      'must be the object createSessionTokens() returns',
    ),
    ...browserSignInShape(),
  }),
);

/** Options of {@link samlRoutes}. */
export type SamlRoutesOptions = z.input<ReturnType<typeof samlRoutesSchema>>;

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
  const parsed = parseOptions(samlRoutesSchema(), options, 'samlRoutes');
  const { saml, tokens } = parsed;
  const flow = createBrowserSignIn(
    { sessions: tokens, cookie: parsed.cookie, allowedOrigins: parsed.allowedOrigins },
    samlBrowserMethod(saml, tokens, parsed.now ?? Date.now),
  );
  const routes = browserSignInRoutes(parsed, flow);
  const router = express.Router();
  router.use(routes.prelude);
  router.get('/metadata', (_req, res) => {
    res.type('application/samlmetadata+xml').send(saml.metadata());
  });
  router.get('/login', routes.login);
  router.post(
    '/acs',
    express.urlencoded({ extended: false, limit: 4 * 1024 * 1024, parameterLimit: 10 }),
    routes.answer,
  );
  router.post('/logout', routes.logout);
  router.use(function unreadableBody(
    error: unknown,
    req: Request,
    _res: Response,
    next: NextFunction,
  ) {
    // Bodies refused by the parser never reached the handler: a SAML refusal like the others.
    if (isIdentityError(error)) {
      next(error);
      return;
    }
    const refusal =
      (error as { type?: unknown }).type === 'entity.too.large'
        ? new IdentityError('request_too_large', 'The SAMLResponse is too large.')
        : samlRefused('unreadable_body');
    routes.refuse(req, next, refusal);
  });
  router.use(identityErrorHandler());
  return router;
}
