import type { z } from 'zod';
import { signInMappingSchema } from '../../core/identity-mapping.js';
import { lazySchema } from '../../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../../core/option-schemas.js';
import { secureUrl } from '../../core/secure-url.js';
import type { UsedAssertionStore } from './assertion-store.js';
import type { RequestIdStore } from './request-id-store.js';
import { SAML_PRESET_NAMES } from './saml-presets.js';

/** Default: 60 seconds of clock skew on the assertion's times (at most 300). */
export const DEFAULT_SAML_CLOCK_SKEW_SEC = 60;
/** Default: 262144 bytes (256 KiB) of base64 SAMLResponse; real responses are a few KiB. */
export const DEFAULT_MAX_SAML_RESPONSE_BYTES = 256 * 1024;

/** Options of `createSamlSignIn()`. */
export const samlOptionsSchema = lazySchema((z) => {
  const pemCertificate = z
    .string()
    .regex(
      /-----BEGIN CERTIFICATE-----/,
      'must be a PEM certificate (-----BEGIN CERTIFICATE-----)',
    );
  return z.strictObject({
    /** This service provider's entity ID, which assertions must name as their audience (required). */
    entityId: z.string().min(1).max(1_024),
    /** The Assertion Consumer Service URL, exactly as the IdP posts to it (required). */
    acsUrl: secureUrl(),
    /** The identity provider (required): from its federation metadata. */
    idp: z.strictObject({
      /** The IdP's entity ID: the `Issuer` of its responses and assertions. */
      entityId: z.string().min(1).max(1_024),
      /** Where sign-in requests are sent (HTTP-Redirect binding). */
      ssoUrl: secureUrl(),
      /** The IdP's signing certificate(s), PEM; several during a certificate rollover. */
      certificates: z.array(pemCertificate).min(1),
      /** The IdP's single-logout URL, when it has one. */
      sloUrl: secureUrl().optional(),
    }),
    /** Default: `generic`. The attribute names the IdP sends: `entra`, `adfs`, `okta`. */
    preset: z.enum(SAML_PRESET_NAMES).optional(),
    /** `{ claim_mapping, role_mapping }` over attribute names, as for JWT claims. */
    mapping: signInMappingSchema().optional(),
    /** Default: 60. Seconds of clock skew allowed on the assertion's times. */
    clockSkewSec: z.number().int().min(0).max(300).optional(),
    /** Default: 262144 (256 KiB). A larger SAMLResponse is refused with 413. */
    maxResponseBytes: z
      .number()
      .int()
      .min(16 * 1024)
      .max(4 * 1024 * 1024)
      .optional(),
    /**
     * Default: false. Accepts responses the IdP sends without a sign-in request of ours
     * (IdP-initiated). **Warning:** such responses cannot be tied to a browser that asked for them
     * (login CSRF), and only the used-assertion store stops their replay.
     */
    dangerouslyAllowIdpInitiated: z.boolean().optional(),
    /**
     * Default: false. Accepts SHA-1 signatures and digests. **Warning:** SHA-1 collisions are
     * practical; an attacker may forge a signed document with the same digest.
     */
    dangerouslyAllowSha1: z.boolean().optional(),
    /** Assertions already used, until they expire. Default: in memory (one instance only). */
    assertionStore: objectWithMethods<UsedAssertionStore>(
      ['consume'],
      'must be a used-assertion store: { consume(id, expiresAtMs) }',
    ).optional(),
    /** Ids of sign-in requests still awaiting their response. Default: in memory. */
    requestStore: objectWithMethods<RequestIdStore>(
      ['saveAsync', 'getAsync', 'removeAsync'],
      'must be a request id store: { saveAsync, getAsync, removeAsync }',
    ).optional(),
    /** Default: 600 (10 minutes) for the user to sign in at the IdP. */
    requestTtlSec: z.number().int().min(30).max(3_600).optional(),
    /** Accounts that are not people, as for `authenticate()`: `{ patterns }`. */
    serviceAccounts: z
      .strictObject({ patterns: z.array(z.union([z.string().min(1), z.instanceof(RegExp)])) })
      .optional(),
    /** Injectable clock, in milliseconds since the epoch. Default: `Date.now`. */
    now: functionOption<() => number>().optional(),
  });
});

/** Options of `createSamlSignIn()`. */
export type SamlSignInOptions = z.input<ReturnType<typeof samlOptionsSchema>>;
