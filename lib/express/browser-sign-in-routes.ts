import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { stringifySetCookie } from 'cookie';
import { auditTrailFrom } from '../audit/audit-options.js';
import type { BrowserRefusal, BrowserSignIn, BrowserStep } from '../core/browser-sign-in.js';
import type { IdentityError } from '../core/errors.js';
import type { IssuedSession } from '../tokens/session-tokens.js';
import { auditThenRespond } from './audit-decision.js';
import { routePrelude } from './route-prelude.js';
import { signInRequest } from './sign-in-request.js';
import type { SignInHandler } from './sign-in-route-options.js';

/** The parsed options the browser sign-in routers share, as far as the adapter uses them. */
export type BrowserRouteOptions = Parameters<typeof auditTrailFrom>[0] & {
  readonly source?: string | undefined;
  readonly generateRequestId?: (() => string) | undefined;
  readonly now?: (() => number) | undefined;
  readonly onSignIn?: SignInHandler | undefined;
};

/** The middlewares of a browser sign-in router, and its audited refusal. */
export interface BrowserSignInRoutes {
  readonly prelude: RequestHandler;
  readonly login: RequestHandler;
  readonly answer: RequestHandler;
  readonly logout: RequestHandler;
  /** Audits a refusal, then passes it on to the error handler. */
  refuse(req: Request, next: NextFunction, error: IdentityError): void;
}

/**
 * The Express adapter of the shared browser sign-in (SAML, OIDC): each route runs one step of
 * the framework-free flow, audits its outcome, then sets the cookies and redirects. Under
 * `fail-closed`, no session is handed out unaudited.
 */
export function browserSignInRoutes(
  options: BrowserRouteOptions,
  flow: BrowserSignIn<IssuedSession>,
): BrowserSignInRoutes {
  const routes: Routes = { flow, now: options.now ?? Date.now, onSignIn: options.onSignIn };
  return {
    prelude: routePrelude({
      trail: auditTrailFrom(options),
      source: options.source,
      generateRequestId: options.generateRequestId,
    }),
    login: (req, res, next) => void login(routes, req, res, next),
    answer: (req, res, next) => void complete(routes, req, res, next),
    logout: (req, res, next) => void logout(routes, req, res, next),
    refuse: (req, next, error) => {
      const decision = { action: 'sign_in', identity: undefined, error, now: routes.now };
      auditThenRespond(req, next, decision, () => {
        next(error);
      });
    },
  };
}

/** What the routes of one router share. */
interface Routes {
  readonly flow: BrowserSignIn<IssuedSession>;
  readonly now: () => number;
  readonly onSignIn: SignInHandler | undefined;
}

function refused(
  routes: Routes,
  req: Request,
  res: Response,
  next: NextFunction,
  step: { readonly action: string; readonly outcome: BrowserRefusal },
): void {
  setCookies(res, step.outcome.cookies);
  const { error, identity } = step.outcome;
  auditThenRespond(req, next, { action: step.action, identity, error, now: routes.now }, () => {
    next(error);
  });
}

function answer(res: Response, step: BrowserStep): void {
  setCookies(res, step.cookies);
  res.redirect(step.redirect.status, step.redirect.location);
}

async function login(routes: Routes, req: Request, res: Response, next: NextFunction) {
  const outcome = await routes.flow.start(signInRequest(req));
  if (!outcome.ok) refused(routes, req, res, next, { action: 'sign_in', outcome });
  else answer(res, outcome);
}

async function complete(routes: Routes, req: Request, res: Response, next: NextFunction) {
  const outcome = await routes.flow.complete(signInRequest(req));
  if (!outcome.ok) {
    refused(routes, req, res, next, { action: 'sign_in', outcome });
    return;
  }
  const { identity, session, returnTo } = outcome;
  const details = { session_id: session.sessionId };
  auditThenRespond(req, next, { action: 'sign_in', identity, details, now: routes.now }, () => {
    if (routes.onSignIn === undefined) {
      answer(res, outcome);
      return;
    }
    // The application takes the session; the pending cookie is cleared all the same.
    setCookies(res, [outcome.clearPending]);
    routes.onSignIn(req, res, { ...session, returnTo });
  });
}

async function logout(routes: Routes, req: Request, res: Response, next: NextFunction) {
  const outcome = await routes.flow.signOut(signInRequest(req));
  if (!outcome.ok) {
    refused(routes, req, res, next, { action: 'sign_out', outcome });
    return;
  }
  const decision = { action: 'sign_out', identity: outcome.identity, now: routes.now };
  auditThenRespond(req, next, decision, () => {
    answer(res, outcome);
  });
}

function setCookies(res: Response, cookies: BrowserStep['cookies']): void {
  for (const { name, value, attributes } of cookies) {
    res.append('Set-Cookie', stringifySetCookie(name, value, attributes));
  }
}
