import { parseCookie } from 'cookie';
import { IdentityError } from './errors.js';

/**
 * Default name of the session cookie. The `__Host-` prefix makes browsers accept it only when
 * it is Secure, has `Path=/` and no `Domain`: a sibling subdomain cannot plant or override it.
 */
export const DEFAULT_SESSION_COOKIE = '__Host-eip-session';
/**
 * Default name of the session cookie when it is not Secure (`secure: false`, plain-HTTP
 * development): browsers refuse a `__Host-` cookie that is not Secure.
 */
export const PLAIN_HTTP_SESSION_COOKIE = 'eip-session';

/** The cookie settings the sign-in routes and `authenticate({ sessionCookie })` share. */
export interface SessionCookieSettings {
  /** Default: `__Host-eip-session`, or `eip-session` when `secure` is false. */
  readonly name?: string | undefined;
  /** Default: true. */
  readonly secure?: boolean | undefined;
}

/**
 * The session cookie's name for one cookie setting. The routes that set the cookie and the
 * middleware that reads it both derive it here, so that one setting (`{ secure: false }` for
 * http://127.0.0.1) cannot leave them looking for two different cookies.
 *
 * @param option - the option's path in the caller's factory, for the `TypeError`.
 */
export function sessionCookieName(settings: SessionCookieSettings, option: string): string {
  const secure = settings.secure ?? true;
  const name = settings.name ?? (secure ? DEFAULT_SESSION_COOKIE : PLAIN_HTTP_SESSION_COOKIE);
  if (name.startsWith('__Host-') && !secure) {
    throw new TypeError(
      `option "${option}.secure": a "__Host-" cookie must be Secure; choose another "${option}.name" for plain-HTTP development`,
    );
  }
  return name;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session token in a `Cookie` header, or undefined. */
export function readSessionCookie(cookieHeader: unknown, name: string): string | undefined {
  if (typeof cookieHeader !== 'string' || cookieHeader.length === 0) return undefined;
  const value = parseCookie(cookieHeader)[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Refuses a cookie-authenticated request that changes state and comes from another origin:
 * browsers attach cookies to cross-site form posts and `fetch` calls, so without this check any
 * web page could make the assistant act as whoever is signed in (cross-site request forgery).
 * `Origin` is sent by every current browser on such requests; `Referer` is the fallback; a
 * request with neither is refused, because it cannot be told apart from a forged one.
 */
export function checkSameOrigin(
  method: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  allowedOrigins: ReadonlySet<string>,
): void {
  // A WebSocket upgrade is a GET, yet it opens a channel that acts: it is checked like a POST.
  const upgrade = headers['upgrade'];
  const websocket = typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
  if (SAFE_METHODS.has(method.toUpperCase()) && !websocket) return;
  const origin = headers['origin'];
  const referer = headers['referer'];
  let claimed: string | undefined;
  // `Origin: null` comes from sandboxed frames, data: URLs and privacy redirects: an opaque
  // origin, refused as such (its Referer may still name an allowed page).
  if (typeof origin === 'string') claimed = origin === 'null' ? undefined : origin;
  else if (typeof referer === 'string') {
    try {
      claimed = new URL(referer).origin;
    } catch {
      claimed = undefined;
    }
  }
  if (claimed === undefined || !allowedOrigins.has(claimed)) {
    throw new IdentityError(
      'csrf_refused',
      'This request changes data with a browser session cookie, but it did not come from this application\'s own pages (Origin check). Send it from the application, or use an "Authorization: Bearer" header.',
      { details: { origin: claimed ?? null } },
    );
  }
}
