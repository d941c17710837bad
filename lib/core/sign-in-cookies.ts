import { sessionCookieName } from './session-cookie.js';

/** A cookie to set (or, with `maxAge: 0` and an empty value, to clear), for any framework. */
export interface SetCookie {
  readonly name: string;
  readonly value: string;
  readonly attributes: {
    readonly httpOnly: true;
    readonly secure: boolean;
    readonly sameSite: 'lax' | 'none';
    readonly path: '/';
    readonly maxAge: number;
  };
}

/**
 * The two cookies of a browser sign-in, as plain values: the pending sign-in (sealed, from the
 * start to the IdP's answer) and the session. The session cookie's name is derived like
 * `authenticate({ sessionCookie })` derives it, so one setting cannot make them disagree.
 */
export function signInCookies(options: {
  readonly method: 'saml' | 'oidc';
  readonly pendingSameSite: 'none' | 'lax';
  readonly name?: string | undefined;
  readonly secure?: boolean | undefined;
}): {
  readonly pendingName: string;
  readonly sessionName: string;
  readonly pending: (value: string, maxAgeSec: number) => SetCookie;
  readonly session: (value: string, maxAgeSec: number) => SetCookie;
} {
  const secure = options.secure ?? true;
  const sessionName = sessionCookieName(options, 'cookie');
  // `__Host-` whenever Secure, so that a sibling subdomain cannot plant one.
  const pendingName = `${secure ? '__Host-' : ''}eip-${options.method}-pending`;
  // Browsers refuse SameSite=None without Secure; plain-HTTP development gets Lax.
  const pendingSameSite = secure ? options.pendingSameSite : 'lax';
  return {
    pendingName,
    sessionName,
    pending: (value, maxAge) => ({
      name: pendingName,
      value,
      attributes: { httpOnly: true, secure, sameSite: pendingSameSite, path: '/', maxAge },
    }),
    // Lax: sent on the top-level navigation that follows the IdP's cross-site POST, and never
    // on cross-site subrequests or form posts (with the Origin check as the second lock).
    session: (value, maxAge) => ({
      name: sessionName,
      value,
      attributes: { httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge },
    }),
  };
}
