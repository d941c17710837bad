import { decodeJwt } from 'jose';
import { isIdentityError, type IdentityError } from './errors.js';
import type { Identity } from './identity.js';
import { checkSameOrigin, readSessionCookie } from './session-cookie.js';
import { signInCookies, type SetCookie } from './sign-in-cookies.js';
import type { SignInRequest } from './sign-in-request.js';
export type { SetCookie } from './sign-in-cookies.js';
import { safeReturnPathOf } from './safe-return-path.js';

/** Default: 600 seconds (10 minutes) to sign in at the IdP and come back. */
const PENDING_TTL_SEC = 600;

/** What the browser is told to do: the cookies, then where to go. */
export interface BrowserStep {
  readonly cookies: readonly SetCookie[];
  readonly redirect: { readonly status: 302 | 303; readonly location: string };
}

/** A refusal, with what the audit event needs and the cookies to send anyway. */
export interface BrowserRefusal {
  readonly ok: false;
  readonly error: IdentityError;
  readonly identity: Identity | undefined;
  readonly cookies: readonly SetCookie[];
}

/** The session the package issues, as far as the flow uses it. */
export interface BrowserSession {
  readonly sessionId: string;
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly refreshExpiresIn: number;
}

/** The session service (`createSessionTokens()`), as far as the flow uses it. */
export interface BrowserSessions<Session extends BrowserSession> {
  issue(identity: Identity): Promise<Session>;
  signOut(token: string): Promise<Identity>;
  sealState(data: Record<string, string>, ttlSec: number): Promise<string>;
  openState(sealed: string): Promise<Record<string, string>>;
}

/** A sign-in a method (SAML, OIDC) completed, before the package's session is issued. */
export interface FinishedSignIn {
  readonly identity: Identity;
  /** Where the browser returns (checked again: only same-site paths). */
  readonly returnTo: unknown;
}

/** What one sign-in method brings to the shared browser flow. */
export interface BrowserSignInMethod<
  Finished extends FinishedSignIn,
  Session extends BrowserSession,
> {
  readonly name: 'saml' | 'oidc';
  /**
   * The SameSite of the pending cookie: SAML's answer is a cross-site POST, which only a
   * SameSite=None cookie accompanies; OIDC's is a top-level GET, which Lax is enough for.
   */
  readonly pendingSameSite: 'none' | 'lax';
  /** The URL the IdP answers at: its origin is the default of `allowedOrigins`. */
  readonly answerUrl: string;
  /** The IdP URL to send the browser to, and what its answer will need (sealed in a cookie). */
  start(returnTo: string): Promise<{ url: string; pending: Record<string, string> }>;
  /** Finishes the protocol at the IdP's answer; `sealed` is the browser's pending cookie. */
  finish(request: SignInRequest, sealed: string | undefined): Promise<Finished>;
  /** What the new session must remember at the IdP's side (its tokens, its single logout). */
  keep(session: Session, finished: Finished): Promise<void>;
  /** Ends the IdP's side of a session: where to send the browser then (default `/`). */
  signOut(sessionId: string): Promise<string | undefined>;
  /** The refusal an unexpected error becomes, at each step. */
  unexpected(step: 'start' | 'finish' | 'sign_out', error: unknown): IdentityError;
}

/** Options of {@link createBrowserSignIn}, checked by the caller's factory. */
export interface BrowserSignInOptions<Session extends BrowserSession> {
  readonly sessions: BrowserSessions<Session>;
  readonly cookie?: { readonly name?: string | undefined; readonly secure?: boolean | undefined };
  readonly allowedOrigins?: readonly string[] | undefined;
}

/** A browser sign-in's three steps on plain values: any server (Express, node:http) runs them. */
export interface BrowserSignIn<Session extends BrowserSession> {
  start(request: SignInRequest): Promise<({ ok: true } & BrowserStep) | BrowserRefusal>;
  complete(request: SignInRequest): Promise<
    | ({
        ok: true;
        identity: Identity;
        session: Session;
        returnTo: string;
        /** Clears the pending cookie: to send also when the caller hands the session over itself. */
        clearPending: SetCookie;
      } & BrowserStep)
    | BrowserRefusal
  >;
  signOut(
    request: SignInRequest,
  ): Promise<({ ok: true; identity: Identity | undefined } & BrowserStep) | BrowserRefusal>;
}

/**
 * The browser sign-in SAML and OIDC share, framework-free: start (a sealed pending cookie, a
 * redirect to the IdP), complete (the method finishes its protocol, the session is issued) and
 * sign-out (same-origin only). Each step returns the cookies and the redirect, or a refusal with
 * the identity the audit event names; the caller audits, then answers.
 */
export function createBrowserSignIn<
  Finished extends FinishedSignIn,
  Session extends BrowserSession,
>(
  options: BrowserSignInOptions<Session>,
  method: BrowserSignInMethod<Finished, Session>,
): BrowserSignIn<Session> {
  const flow: Flow<Finished, Session> = Object.freeze({
    sessions: options.sessions,
    method,
    cookies: signInCookies({
      method: method.name,
      pendingSameSite: method.pendingSameSite,
      ...options.cookie,
    }),
    allowedOrigins: new Set(options.allowedOrigins ?? [new URL(method.answerUrl).origin]),
  });
  return Object.freeze({
    start: (request: SignInRequest) => startSignIn(flow, request),
    complete: (request: SignInRequest) => completeSignIn(flow, request),
    signOut: (request: SignInRequest) => signOutOf(flow, request),
  });
}

/** One configured flow: what its three steps share. */
interface Flow<Finished extends FinishedSignIn, Session extends BrowserSession> {
  readonly sessions: BrowserSessions<Session>;
  readonly method: BrowserSignInMethod<Finished, Session>;
  readonly cookies: ReturnType<typeof signInCookies>;
  readonly allowedOrigins: ReadonlySet<string>;
}

function refusalOf(
  method: Pick<BrowserSignInMethod<FinishedSignIn, BrowserSession>, 'unexpected'>,
  step: 'start' | 'finish' | 'sign_out',
  error: unknown,
  identity: Identity | undefined,
  cookies: readonly SetCookie[] = [],
): BrowserRefusal {
  return {
    ok: false,
    error: isIdentityError(error) ? error : method.unexpected(step, error),
    identity,
    cookies,
  };
}

async function startSignIn<Finished extends FinishedSignIn, Session extends BrowserSession>(
  flow: Flow<Finished, Session>,
  request: SignInRequest,
): Promise<({ ok: true } & BrowserStep) | BrowserRefusal> {
  try {
    const returnTo = safeReturnPathOf(request.query['returnTo']);
    const started = await flow.method.start(returnTo);
    // The sign-in is bound to this browser: the IdP's answer is accepted only from a
    // browser holding this cookie (login CSRF), and any instance can finish it.
    const sealed = await flow.sessions.sealState({ ...started.pending, returnTo }, PENDING_TTL_SEC);
    return {
      ok: true as const,
      cookies: [flow.cookies.pending(sealed, PENDING_TTL_SEC)],
      redirect: { status: 302 as const, location: started.url },
    };
  } catch (error) {
    return refusalOf(flow.method, 'start', error, undefined);
  }
}

async function completeSignIn<Finished extends FinishedSignIn, Session extends BrowserSession>(
  flow: Flow<Finished, Session>,
  request: SignInRequest,
): ReturnType<BrowserSignIn<Session>['complete']> {
  const cleared = flow.cookies.pending('', 0);
  let identity: Identity | undefined;
  try {
    const sealed = readSessionCookie(request.headers.cookie, flow.cookies.pendingName);
    const finished = await flow.method.finish(request, sealed);
    identity = finished.identity;
    const issued = await flow.sessions.issue(identity);
    await flow.method.keep(issued, finished);
    const returnTo = safeReturnPathOf(finished.returnTo);
    return {
      ok: true as const,
      identity,
      session: issued,
      returnTo,
      clearPending: cleared,
      cookies: [cleared, flow.cookies.session(issued.accessToken, issued.expiresIn)],
      redirect: { status: 303 as const, location: returnTo },
    };
  } catch (error) {
    return refusalOf(flow.method, 'finish', error, identity, [cleared]);
  }
}

async function signOutOf<Finished extends FinishedSignIn, Session extends BrowserSession>(
  flow: Flow<Finished, Session>,
  request: SignInRequest,
): ReturnType<BrowserSignIn<Session>['signOut']> {
  let identity: Identity | undefined;
  try {
    checkSameOrigin('POST', request.headers, flow.allowedOrigins);
    let location: string | undefined;
    const token = readSessionCookie(request.headers.cookie, flow.cookies.sessionName);
    if (token !== undefined) {
      identity = await flow.sessions.signOut(token);
      // Verified by signOut() just above; read again for the session id.
      const { sid } = decodeJwt(token);
      if (typeof sid === 'string') location = await flow.method.signOut(sid);
    }
    return {
      ok: true as const,
      identity,
      cookies: [flow.cookies.session('', 0)],
      redirect: { status: 303 as const, location: location ?? '/' },
    };
  } catch (error) {
    return refusalOf(flow.method, 'sign_out', error, identity);
  }
}
