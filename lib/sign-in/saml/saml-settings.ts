import type { z } from 'zod';
import { createMemoryAssertionStore, type UsedAssertionStore } from './assertion-store.js';
import type { AssertionPolicy } from './saml-checks.js';
import { compileProfileMapping, type ProfileMapping } from './saml-identity.js';
import {
  DEFAULT_MAX_SAML_RESPONSE_BYTES,
  DEFAULT_SAML_CLOCK_SKEW_SEC,
  type samlOptionsSchema,
} from './saml-options.js';

/** The options of `createSamlSignIn()` once validated by their schema. */
export type ParsedSamlOptions = z.output<ReturnType<typeof samlOptionsSchema>>;

/** What `createSamlSignIn()` settles once from its options, for every response it checks. */
export interface SamlSettings {
  readonly acsUrl: string;
  /** The IdP's entity ID: the `Issuer` its responses and assertions must name. */
  readonly idpEntityId: string;
  /** The IdP's single-logout URL, when it has one. */
  readonly sloUrl: string | undefined;
  /** Whether unsolicited (IdP-initiated) responses are accepted. */
  readonly allowsIdpInitiated: boolean;
  readonly clockSkewMs: number;
  readonly now: () => number;
  /** What the raw `SAMLResponse` may be, before any XML parser sees it. */
  readonly limits: { readonly maxBytes: number; readonly allowSha1: boolean };
  /** What a validated assertion must satisfy beyond node-saml's checks. */
  readonly policy: AssertionPolicy;
  readonly assertionStore: UsedAssertionStore;
  readonly mapping: ProfileMapping;
}

/** Settles the SAML sign-in's options once, with their defaults, and freezes the result. */
export function samlSettingsFrom(parsed: ParsedSamlOptions): SamlSettings {
  const now = parsed.now ?? Date.now;
  const clockSkewMs = (parsed.clockSkewSec ?? DEFAULT_SAML_CLOCK_SKEW_SEC) * 1000;
  const allowSha1 = parsed.dangerouslyAllowSha1 ?? false;
  return Object.freeze({
    acsUrl: parsed.acsUrl,
    idpEntityId: parsed.idp.entityId,
    sloUrl: parsed.idp.sloUrl,
    allowsIdpInitiated: parsed.dangerouslyAllowIdpInitiated === true,
    clockSkewMs,
    now,
    limits: Object.freeze({
      maxBytes: parsed.maxResponseBytes ?? DEFAULT_MAX_SAML_RESPONSE_BYTES,
      allowSha1,
    }),
    policy: Object.freeze({
      acsUrl: parsed.acsUrl,
      idpEntityId: parsed.idp.entityId,
      clockSkewMs,
      now,
      allowSha1,
    }),
    assertionStore: parsed.assertionStore ?? createMemoryAssertionStore({ now }),
    mapping: compileProfileMapping({
      preset: parsed.preset ?? 'generic',
      mapping: parsed.mapping,
      servicePatterns: parsed.serviceAccounts?.patterns ?? [],
    }),
  });
}
