import type { Request, Response } from 'express';
import { auditOptionsShape } from '../audit/audit-options.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import type { IssuedSession } from '../tokens/session-tokens.js';
import { originSchema, sessionCookieOptionsSchema } from './session-cookie.js';

/** What an application does with a new session instead of the default cookie and redirect. */
export type SignInHandler = (
  req: Request,
  res: Response,
  session: IssuedSession & { returnTo: string },
) => void;

/** The options every sign-in router shares: audit, request ids, the clock. */
export const routeOptionsShape = lazySchema((z) => ({
  ...auditOptionsShape,
  /** Recorded as the audit events' `source`. Default: `ai-assistant`. */
  source: z.string().min(1).max(100).optional(),
  /** Generates request ids when the caller sends none. Default: `crypto.randomUUID`. */
  generateRequestId: functionOption<() => string>().optional(),
  /** Injectable clock, in milliseconds since the epoch. Default: `Date.now`. */
  now: functionOption<() => number>().optional(),
}));

/** The options the browser sign-in routers (SAML, OIDC) share, beyond {@link routeOptionsShape}. */
export const browserSignInShape = lazySchema((z) => ({
  ...routeOptionsShape(),
  /** The session cookie: HttpOnly, Secure, SameSite=Lax, `__Host-eip-session` by default. */
  cookie: sessionCookieOptionsSchema().optional(),
  /**
   * Origins whose pages may sign out (an Origin check). Default: the origin of the URL the IdP
   * answers at (the ACS URL or `redirect_uri`).
   */
  allowedOrigins: z.array(originSchema()).min(1).optional(),
  /**
   * Hands the session to the application instead of setting the cookie (a native shell, a
   * server-side session store). The token never appears in a URL either way.
   */
  onSignIn: functionOption<SignInHandler>().optional(),
}));
