import type { z } from 'zod';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../core/option-schemas.js';
import { secureUrl } from '../core/secure-url.js';
import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  type ServiceAccountRule,
} from '../core/service-accounts.js';
import { issuerSchema, issuerShape } from './issuer-options.js';

/**
 * Headers that carry application API keys. Sent alone, they are refused: an API key names an
 * application, and the AI must act as a person. Sent beside a user's bearer token (as
 * DreamFactory clients do), they are ignored here.
 */
export const DEFAULT_API_KEY_HEADERS = Object.freeze([
  'x-api-key',
  'api-key',
  'apikey',
  'x-dreamfactory-api-key',
]);

const ruleNames = Object.values(DEFAULT_SERVICE_ACCOUNT_RULES).map((rule) => rule.name);

export const serviceAccountsSchema = lazySchema((z) =>
  z.strictObject({
    /** Exact subjects, usernames or emails of shared accounts. */
    denySubjects: z.array(z.string().min(1)).optional(),
    /** Wildcard strings (`svc-*`) or RegExps matched against the same fields. */
    denyPatterns: z.array(z.union([z.string().min(1), z.instanceof(RegExp)])).optional(),
    /**
     * Built-in rules to switch off, by name (see `SERVICE_ACCOUNT_RULES`). **Warning:** tokens
     * of that shape are then treated as people, and reach AI routes as such.
     */
    disableRules: z.array(z.enum(ruleNames as [string, ...string[]])).optional(),
    /** Extra rules of your own, tried after the built-in ones. */
    rules: z
      .array(
        objectWithMethods<ServiceAccountRule>(
          ['matches'],
          'must be { name, description, matches(input) }',
          ['name'],
        ),
      )
      .optional(),
  }),
);

/** Options of the bearer authenticator; an issuer's fields may stand at the top level. */
export const authenticatorShape = lazySchema((z) => ({
  ...z.strictObject(issuerShape()).partial().shape,
  /** Several trusted issuers, each with its own keys and rules. */
  issuers: z.array(issuerSchema()).min(1).optional(),
  /**
   * Default: true. When false, a request without any credential passes with no identity.
   * **Warning:** routes then need `requireUser()` (or their own check) to refuse anonymous
   * callers; `authenticate()` alone no longer does.
   */
  credentialsRequired: z.boolean().optional(),
  /** Headers that mark an API key. Default: `x-api-key`, `api-key`, `apikey`, `x-dreamfactory-api-key`. */
  apiKeyHeaders: z.array(z.string().min(1)).optional(),
  /** Default: 16384. Larger bearer tokens are refused before any parsing. */
  maxTokenBytes: z.number().int().min(1_024).max(65_536).optional(),
  serviceAccounts: serviceAccountsSchema().optional(),
  /**
   * Reuse of successful verifications for a repeated token. Default: on, 10000 entries, at most
   * 30 s and never past `exp`. **Trade-off:** a key removed from the JWKS or a revoked token keeps
   * working for up to `maxAgeMs`; set `false` to verify every request.
   */
  tokenCache: z
    .union([
      z.literal(false),
      z.strictObject({
        maxEntries: z.number().int().min(1).max(1_000_000).optional(),
        maxAgeMs: z.number().int().min(1).max(600_000).optional(),
      }),
    ])
    .optional(),
  /**
   * Also accept the session token from a cookie (browser sign-in through SAML or OIDC), when
   * the request has no `Authorization` header. Unsafe methods (POST, PUT, DELETE...) with the
   * cookie must come from `allowedOrigins` (a CSRF defence), or get 403 `csrf_refused`.
   */
  sessionCookie: z
    .strictObject({
      /**
       * Default: `__Host-eip-session`, or `eip-session` when `secure` is false: give the same
       * `name` and `secure` as the sign-in routes' `cookie`, and both name the same cookie.
       */
      name: z
        .string()
        .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'is not a valid cookie name')
        .optional(),
      /** Default: true. False only for plain-HTTP development on 127.0.0.1. */
      secure: z.boolean().optional(),
      /** The origins of this application's own pages, e.g. `https://assistant.example.com`. */
      allowedOrigins: z
        .array(
          secureUrl().refine((value) => new URL(value).origin === value, {
            message: 'must be an origin (scheme, host and port) without a path or a trailing slash',
          }),
        )
        .min(1),
    })
    .optional(),
  /** Injectable clock, in milliseconds since the epoch. Default: `Date.now`. */
  now: functionOption<() => number>().optional(),
  /** Injectable fetch for JWKS requests. Default: the global `fetch`. */
  fetch: functionOption<typeof globalThis.fetch>().optional(),
}));

export const authenticatorSchema = lazySchema((z) => z.strictObject(authenticatorShape()));
/** Options of the bearer authenticator: one issuer at the top level, or `issuers`. */
export type AuthenticatorOptions = z.input<ReturnType<typeof authenticatorSchema>>;
/** The authenticator's options as {@link authenticatorSchema} leaves them. */
export type ParsedAuthenticatorOptions = z.output<ReturnType<typeof authenticatorSchema>>;
