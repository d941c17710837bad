import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../core/option-schemas.js';
import type { SessionStore } from './session-store.js';
import { signingKeySchema } from './signing-keys.js';

/** Default: 1440 minutes (24 hours), a data gateway's `DF_JWT_TTL`. */
export const DEFAULT_SESSION_TTL_MIN = 1_440;
/** Default: 20160 minutes (14 days) after sign-in, a gateway's `DF_JWT_REFRESH_TTL`. */
export const DEFAULT_REFRESH_TTL_MIN = 20_160;
/** Default: 300 seconds for a token minted for one upstream. */
export const DEFAULT_MINT_TTL_SEC = 300;

/** Options of {@link createSessionTokens}. */
export const sessionTokensSchema = lazySchema((z) => {
  const minutes = z.number().int().min(1);
  return z
    .strictObject({
      /**
       * The `iss` of every token this application issues: its own base URL (required). Data APIs
       * that accept minted tokens trust this issuer and its JWKS.
       */
      issuer: z.string().min(1).max(512),
      /** The `aud` of session tokens: this application's API. Default: the issuer. */
      audience: z.string().min(1).max(512).optional(),
      /** Signing keys; the first signs, all verify (rotation). Required. */
      signingKeys: z.array(signingKeySchema()).min(1),
      /**
       * Default: 1440 (24 hours), like `DF_JWT_TTL`. How long a stolen session token works
       * without the refresh token: keep it as short as your users tolerate.
       */
      sessionTtlMin: minutes.max(10_080).optional(),
      /**
       * Default: 20160 (14 days) after sign-in, like `DF_JWT_REFRESH_TTL`. Refreshing never
       * extends a session past this: the outer bound of a stolen session's life.
       */
      refreshTtlMin: minutes.max(525_600).optional(),
      /** Sign-outs and used refresh tokens. Default: in memory (one instance only). */
      store: objectWithMethods<SessionStore>(
        ['revokeSession', 'isSessionRevoked', 'consumeRefreshToken'],
        'must be a session store: { revokeSession, isSessionRevoked, consumeRefreshToken }',
      ).optional(),
      /** Injectable clock, in milliseconds since the epoch. Default: `Date.now`. */
      now: functionOption<() => number>().optional(),
      /** Token and session ids. Default: `crypto.randomUUID`. */
      generateId: functionOption<() => string>().optional(),
    })
    .superRefine((value, context) => {
      const session = value.sessionTtlMin ?? DEFAULT_SESSION_TTL_MIN;
      const refresh = value.refreshTtlMin ?? DEFAULT_REFRESH_TTL_MIN;
      if (refresh < session) {
        context.addIssue({
          code: 'custom',
          path: ['refreshTtlMin'],
          message: `must be at least sessionTtlMin (${session}): a session cannot end before its first token`,
        });
      }
    });
});

/** Options of {@link createSessionTokens}. */
export type SessionTokensOptions = z.input<ReturnType<typeof sessionTokensSchema>>;
/** The options of {@link createSessionTokens} as {@link sessionTokensSchema} leaves them. */
export type ParsedSessionTokensOptions = z.output<ReturnType<typeof sessionTokensSchema>>;
