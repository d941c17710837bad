// OIDC sign-in and token exchange, on their own entry point so that applications without them
// never load the OAuth client.
export { createOidcSignIn } from './sign-in/oidc/oidc-sign-in.js';
export type { OidcSignIn, PendingSignIn, CompletedSignIn } from './sign-in/oidc/oidc-sign-in.js';
export type { SignInRequest } from './core/sign-in-request.js';
export type { OidcSignInOptions } from './sign-in/oidc/oidc-options.js';
export {
  DEFAULT_OIDC_TIMEOUT_MS,
  DEFAULT_REFRESH_BEFORE_EXPIRY_SEC,
} from './sign-in/oidc/oidc-options.js';
export { createMemoryOidcTokenStore } from './sign-in/oidc/oidc-token-store.js';
export type { IdpTokens, OidcTokenStore } from './sign-in/oidc/oidc-token-store.js';
export { oidcSessionStrategy } from './outbound/oidc-session-strategy.js';
export { exchangeStrategy } from './outbound/exchange-strategy.js';
export type { ExchangeStrategyOptions } from './outbound/exchange-strategy.js';
export { oidcRoutes } from './express/oidc-routes.js';
export type { OidcRoutesOptions } from './express/oidc-routes.js';
