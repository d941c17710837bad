// SAML sign-in, on its own entry point so that applications without SAML never load the XML
// and signature libraries.
export { createSamlSignIn } from './sign-in/saml/saml-sign-in.js';
export type {
  CompletedSamlSignIn,
  PendingSamlSignIn,
  SamlSignIn,
} from './sign-in/saml/saml-sign-in.js';
export type { SignInRequest } from './core/sign-in-request.js';
export type { SamlSignInOptions } from './sign-in/saml/saml-options.js';
export {
  DEFAULT_MAX_SAML_RESPONSE_BYTES,
  DEFAULT_SAML_CLOCK_SKEW_SEC,
} from './sign-in/saml/saml-options.js';
export { SAML_PRESETS, SAML_PRESET_NAMES } from './sign-in/saml/saml-presets.js';
export type { SamlPresetName } from './sign-in/saml/saml-presets.js';
export { createMemoryAssertionStore } from './sign-in/saml/assertion-store.js';
export type { UsedAssertionStore } from './sign-in/saml/assertion-store.js';
export type { RequestIdStore } from './sign-in/saml/request-id-store.js';
export { samlRoutes } from './express/saml-routes.js';
export type { SamlRoutesOptions, SignInHandler } from './express/saml-routes.js';
