import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { secureUrl } from '../core/secure-url.js';

/** How browser sign-in routes hand the session token over: an HttpOnly cookie. */
export const sessionCookieOptionsShape = lazySchema((z) => ({
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
}));

export const sessionCookieOptionsSchema = lazySchema((z) =>
  z.strictObject(sessionCookieOptionsShape()),
);
export type SessionCookieOptions = z.input<ReturnType<typeof sessionCookieOptionsSchema>>;

/** An origin, exactly: scheme, host and port, without a path. */
export const originSchema = lazySchema(() =>
  secureUrl().refine((value) => new URL(value).origin === value, {
    message: 'must be an origin (scheme, host and port) without a path or a trailing slash',
  }),
);
