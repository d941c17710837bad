import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { decodeJwt } from 'jose';
import type { z } from 'zod';
import { auditTrailFrom } from '../audit/audit-options.js';
import { IdentityError, isIdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { lazySchema } from '../core/lazy-zod.js';
import { objectWithMethods } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import type { PasswordAuthenticator } from '../core/password-sign-in.js';
import { readPasswordCredentials, signInWithPassword } from '../core/password-sign-in.js';
import { createSignInThrottle, type SignInThrottle } from '../core/sign-in-throttle.js';
import { extractBearerToken } from '../bearer/bearer-token.js';
import type { IssuedSession, SessionTokens } from '../tokens/session-tokens.js';
import { auditDecision, auditThenRespond } from './audit-decision.js';
import { identityErrorHandler } from './error-handler.js';
import { authenticationRequest } from './request-parts.js';
import { requestState } from './request-state.js';
import { routePrelude } from './route-prelude.js';
import { routeOptionsShape } from './sign-in-route-options.js';

/** Default: 8 KiB. A sign-in body is a username and a password. */
const MAX_BODY_BYTES = 8 * 1024;

const sessionRoutesSchema = lazySchema((z) =>
  z.strictObject({
    /** The token service from `createSessionTokens()` (required). */
    tokens: objectWithMethods<SessionTokens>(
      ['issue', 'refresh', 'signOut'],
      'must be the object createSessionTokens() returns',
    ),
    /** Checks passwords: `createLdapAuthenticator()`. Without it, no `POST /session` route. */
    passwordSignIn: objectWithMethods<PasswordAuthenticator>(
      ['authenticate'],
      'must be a password authenticator: { provider, authenticate({ username, password }) }',
      ['provider'],
    ).optional(),
    /**
     * Failed sign-ins allowed before 429 `too_many_attempts`. Default: 4 per account (counted until
     * 15 minutes pass without one) and 20 per client address in 15 minutes: safe for directories
     * that lock an account at 5 or more failures. Set the account limit below the directory's
     * lockout threshold, and `windowMs` no shorter than its failure-counting interval.
     * An account is counted under every name it is signed in with as soon as `passwordSignIn`
     * resolves the name to it (`context.guardAccount()`): the LDAP authenticator does so in
     * search-then-bind and `userDnTemplate` modes. With `accountSuffix`, and with authenticators
     * that ignore the context, names are counted as typed (case, the UPN domain and `DOMAIN\`
     * folded), so two names of one person not related by that folding each get the allowance.
     * **Warning:** `false` lets anyone guess passwords as fast as the directory answers, and lock
     * any account whose name they know. Several instances share one throttle (a `SignInThrottle`
     * such as `createRedisStores().signInThrottle()`), or each lets the allowance through.
     */
    throttle: z
      .union([
        z.literal(false),
        objectWithMethods<SignInThrottle>(['attempt'], 'must be a SignInThrottle: { attempt }'),
        z.strictObject({
          maxFailuresPerAccount: z.number().int().min(1).max(1_000).optional(),
          maxFailuresPerClient: z.number().int().min(1).max(100_000).optional(),
          windowMs: z.number().int().min(1_000).max(86_400_000).optional(),
        }),
      ])
      .optional(),
    ...routeOptionsShape(),
  }),
);

/** Options of {@link sessionRoutes}. */
export type SessionRoutesOptions = z.input<ReturnType<typeof sessionRoutesSchema>>;

/**
 * The sign-in routes of the package's own sessions, as a router to mount where you like:
 * - `POST /session` with `{ "username" | "email", "password" }` (JSON or form): signs in through
 *   `passwordSignIn` and answers `{ access_token, token_type, expires_in, refresh_token,
 *   refresh_expires_in, user }`;
 * - `POST /session/refresh` with `{ "refresh_token" }`: new tokens; the old refresh token is spent;
 * - `DELETE /session` with the access token (`Authorization: Bearer`) or `{ "refresh_token" }`:
 *   signs out; every token of the session stops working.
 *
 * Every outcome is audited; failures are throttled per account and per client (429).
 *
 * @example
 * ```ts
 * app.use('/auth', sessionRoutes({ tokens: sessions, passwordSignIn: directory }));
 * ```
 */
export function sessionRoutes(options: SessionRoutesOptions): Router {
  const parsed = parseOptions(sessionRoutesSchema(), options, 'sessionRoutes');
  const { tokens, passwordSignIn, source, generateRequestId } = parsed;
  const now = parsed.now ?? Date.now;
  const throttle = throttleOf(parsed.throttle, now);
  const body = [
    express.json({ limit: MAX_BODY_BYTES, strict: true }),
    express.urlencoded({ limit: MAX_BODY_BYTES, extended: false, parameterLimit: 10 }),
  ];
  const router = express.Router();
  router.use(routePrelude({ trail: auditTrailFrom(parsed), source, generateRequestId }));
  if (passwordSignIn !== undefined) {
    const signIn = signInWith(passwordSignIn, tokens, throttle);
    router.post('/session', ...body, audited('sign_in', signIn, now));
  }
  router.post('/session/refresh', ...body, audited('session_refresh', refreshWith(tokens), now));
  router.delete('/session', ...body, audited('sign_out', signOutWith(tokens), now));
  router.use(auditBodyRefusals(now));
  router.use(identityErrorHandler());
  return router;
}

/** A route's work: what to answer, once its audit event is written. */
type RouteWork = (req: Request, context: Context) => Promise<(res: Response) => void>;

// A handler returns its response rather than sending it: under `fail-closed` the event is
// written first, so that no token leaves without its audit record (and a failing sink is a
// 503 `audit_unavailable`, not an unhandled rejection).
function audited(action: string, work: RouteWork, now: () => number): RequestHandler {
  return function auditedRoute(req: Request, res: Response, next: NextFunction): void {
    const context: Context = { identity: undefined, details: {} };
    work(req, context).then(
      (respond) => {
        auditThenRespond(req, next, { action, ...context, now }, () => {
          respond(res);
        });
      },
      (error: unknown) => {
        const refusal = isIdentityError(error)
          ? error
          : new IdentityError('internal_error', 'The sign-in could not be completed.', {
              cause: error,
            });
        auditThenRespond(req, next, { action, ...context, error: refusal, now }, () => {
          next(refusal);
        });
      },
    );
  };
}

/** `POST /session`: a password sign-in, throttled, answered with a new session. */
function signInWith(
  passwordSignIn: PasswordAuthenticator,
  tokens: SessionTokens,
  throttle: SignInThrottle | undefined,
): RouteWork {
  return async (req, context) => {
    const form = readForm(req);
    const name = form['username'] ?? form['email'];
    if (typeof name === 'string') context.details = { username: name.slice(0, 256) };
    if (form['username'] !== undefined && form['email'] !== undefined) {
      throw new IdentityError('invalid_request', 'Send "username" or "email", not both.');
    }
    const credentials = readPasswordCredentials(name, form['password']);
    const attempt = await throttle?.attempt(credentials.username, req.ip);
    // The authenticator tells the throttle which account the name is, once it knows: every
    // name a directory accepts for one person shares that person's allowance.
    const identity = await signInWithPassword(passwordSignIn, credentials, attempt);
    context.identity = identity;
    const session = await tokens.issue(identity);
    // The session id links this event to the session's refreshes and its sign-out.
    context.details = { ...context.details, session_id: session.sessionId };
    return (res) => {
      sendSession(res, session);
    };
  };
}

/** `POST /session/refresh`: a spent refresh token for new tokens. */
function refreshWith(tokens: SessionTokens): RouteWork {
  return async (req, context) => {
    const refreshToken = readForm(req)['refresh_token'];
    if (typeof refreshToken !== 'string' || refreshToken.length === 0) {
      throw new IdentityError('invalid_request', 'Send the "refresh_token" to refresh with.');
    }
    const session = await tokens.refresh(refreshToken);
    context.identity = session.identity;
    context.details = { session_id: session.sessionId };
    return (res) => {
      sendSession(res, session);
    };
  };
}

/** `DELETE /session`: signs the session out, with its access token or its refresh token. */
function signOutWith(tokens: SessionTokens): RouteWork {
  return async (req, context) => {
    // A sign-out with the access token alone has no body: no form to read, no type to refuse.
    const refreshToken = hasNoBody(req) ? undefined : readForm(req)['refresh_token'];
    const token =
      typeof refreshToken === 'string' && refreshToken.length > 0
        ? refreshToken
        : extractBearerToken({ ...authenticationRequest(req), body: undefined });
    if (token === undefined) {
      throw new IdentityError(
        'credentials_missing',
        'Send the session\'s access token ("Authorization: Bearer ...") or its "refresh_token" to sign out.',
      );
    }
    context.identity = await tokens.signOut(token);
    // Verified by signOut() just above; read again only to name the session in the event.
    const { sid } = decodeJwt(token);
    context.details = { session_id: typeof sid === 'string' ? sid : null };
    return (res) => {
      res.status(204).end();
    };
  };
}

// Bodies refused by the parsers never reach a handler; they are audited here. Refusals from the
// handlers were audited where they arose.
function auditBodyRefusals(now: () => number): ErrorRequestHandler {
  return function bodyRefusal(error: unknown, req: Request, _res: Response, next: NextFunction) {
    const refusal = isIdentityError(error) ? undefined : bodyError(error);
    if (refusal === undefined || !isIdentityError(refusal)) {
      next(refusal ?? error);
      return;
    }
    const action =
      req.method === 'DELETE'
        ? 'sign_out'
        : req.path.endsWith('/refresh')
          ? 'session_refresh'
          : 'sign_in';
    const pending = auditDecision(req, requestState(req), {
      action,
      identity: undefined,
      error: refusal,
      now,
    });
    if (pending === undefined) next(refusal);
    else
      pending.then(
        () => next(refusal),
        () => next(refusal),
      );
  };
}

interface Context {
  identity: Identity | undefined;
  details: Record<string, unknown>;
}

// As type-is decides (RFC 9112 §6.3): no Transfer-Encoding and no (or a zero) Content-Length,
// and no Content-Type announcing a body either.
function hasNoBody(req: Request): boolean {
  return (
    req.headers['content-type'] === undefined &&
    req.headers['transfer-encoding'] === undefined &&
    (req.headers['content-length'] ?? '0') === '0'
  );
}

function readForm(req: Request): Record<string, unknown> {
  if (!req.is(['application/json', 'application/x-www-form-urlencoded'])) {
    throw new IdentityError(
      'unsupported_media_type',
      'Send the form as application/json or application/x-www-form-urlencoded.',
    );
  }
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new IdentityError('invalid_request', 'The request body must be a JSON object or a form.');
  }
  return body as Record<string, unknown>;
}

function sendSession(res: Response, session: IssuedSession): void {
  const { identity } = session;
  res.status(200).json({
    access_token: session.accessToken,
    token_type: session.tokenType,
    expires_in: session.expiresIn,
    refresh_token: session.refreshToken,
    refresh_expires_in: session.refreshExpiresIn,
    user: {
      subject: identity.subject,
      username: identity.username,
      email: identity.email ?? null,
      name: identity.name ?? null,
      groups: identity.groups,
      roles: identity.roles,
      provider: identity.provider,
    },
  });
}

// body-parser reports oversize and malformed bodies with a `type`; they become refusals with
// this package's codes, audited like any other.
function bodyError(error: unknown): unknown {
  if (isIdentityError(error) || typeof error !== 'object' || error === null) return error;
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.too.large') {
    return new IdentityError(
      'request_too_large',
      `The request body is larger than ${MAX_BODY_BYTES} bytes.`,
    );
  }
  if (typeof type === 'string') {
    return new IdentityError(
      'invalid_request',
      'The request body could not be parsed; send valid JSON or a form.',
      // Never the parser's message: V8 quotes the body in it, password included.
      { details: { parse_error: type } },
    );
  }
  return error;
}

function throttleOf(
  option: z.output<ReturnType<typeof sessionRoutesSchema>>['throttle'],
  now: () => number,
): SignInThrottle | undefined {
  if (option === false) return undefined;
  if (option !== undefined && 'attempt' in option) return option;
  return createSignInThrottle({ ...option, now });
}
