import type { Response } from 'express';
import { stringifySetCookie } from 'cookie';
import { z } from 'zod';
import { secureUrl } from '../core/secure-url.js';
import { sessionCookieName } from '../core/session-cookie.js';

/** How browser sign-in routes hand the session token over: an HttpOnly cookie. */
export const sessionCookieOptionsShape = {
  /**
   * Default: `__Host-eip-session`, or `eip-session` when `secure` is false. Give
   * `authenticate({ sessionCookie })` the same `name` and `secure`: it derives the same name.
   */
  name: z
    .string()
    .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'is not a valid cookie name')
    .optional(),
  /**
   * Default: true. **Warning:** false sends the session over plain HTTP, where anyone on the
   * network path can take it; only for http://127.0.0.1 development (and then a `__Host-` name
   * cannot be used: the default name becomes `eip-session`, in `authenticate()` too when it is
   * given the same setting).
   */
  secure: z.boolean().optional(),
};

export const sessionCookieOptionsSchema = z.strictObject(sessionCookieOptionsShape);
export type SessionCookieOptions = z.input<typeof sessionCookieOptionsSchema>;

/** The cookie settings as the routes use them, checked once. */
export interface SessionCookie {
  set(res: Response, token: string, maxAgeSec: number): void;
  clear(res: Response): void;
  readonly name: string;
}

export function compileSessionCookie(options: SessionCookieOptions = {}): SessionCookie {
  const secure = options.secure ?? true;
  const name = sessionCookieName(options, 'cookie');
  const attributes = {
    httpOnly: true,
    secure,
    // Lax: sent on the top-level navigation that follows the IdP's cross-site POST, and never
    // on cross-site subrequests or form posts (with the Origin check as the second lock).
    sameSite: 'lax' as const,
    path: '/',
  };
  return Object.freeze({
    name,
    set(res: Response, token: string, maxAgeSec: number) {
      res.append(
        'Set-Cookie',
        stringifySetCookie(name, token, { ...attributes, maxAge: maxAgeSec }),
      );
    },
    clear(res: Response) {
      res.append('Set-Cookie', stringifySetCookie(name, '', { ...attributes, maxAge: 0 }));
    },
  });
}

/**
 * A same-site path to return to after sign-in, or `/`. Only a path is accepted: a full URL,
 * `//host` or `/\host` (which browsers treat as another host) would make the sign-in an open
 * redirect to a look-alike page.
 */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1_024) return '/';
  // eslint-disable-next-line no-control-regex
  if (!value.startsWith('/') || /^\/[/\\]/.test(value) || /[\u0000-\u001f\\]/.test(value)) {
    return '/';
  }
  const base = 'https://same-site.invalid';
  try {
    const url = new URL(value, base);
    const path = `${url.pathname}${url.search}${url.hash}`;
    // Normalising can create what the first check refused: `/.//evil.example` becomes
    // `//evil.example`. The result is checked again.
    return url.origin === base && !/^\/[/\\]/.test(path) ? path : '/';
  } catch {
    return '/';
  }
}

/** Default: 600 seconds (10 minutes) to sign in at the IdP and come back. */
export const PENDING_TTL_SEC = 600;

/** An origin, exactly: scheme, host and port, without a path. */
export const originSchema = secureUrl.refine((value) => new URL(value).origin === value, {
  message: 'must be an origin (scheme, host and port) without a path or a trailing slash',
});

/**
 * The cookie that carries a sign-in in progress (sealed) from the start to the IdP's answer.
 * `__Host-` whenever Secure, so that a sibling subdomain cannot plant one. SAML's answer is a
 * cross-site POST, which only a SameSite=None cookie accompanies; OIDC's is a top-level GET.
 */
export function pendingCookie(
  method: 'saml' | 'oidc',
  secure: boolean,
  sameSite: 'none' | 'lax',
): { name: string; serialize(value: string, maxAgeSec: number): string } {
  const name = `${secure ? '__Host-' : ''}eip-${method}-pending`;
  return {
    name,
    serialize: (value, maxAgeSec) =>
      stringifySetCookie(name, value, {
        httpOnly: true,
        secure,
        // Browsers refuse SameSite=None without Secure; plain-HTTP development gets Lax.
        sameSite: secure ? sameSite : 'lax',
        path: '/',
        maxAge: maxAgeSec,
      }),
  };
}
