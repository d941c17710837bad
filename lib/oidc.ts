// OIDC sign-in and token exchange, on their own entry point so that applications without them
// never load the OAuth client.
export { createOidcSignIn } from './providers/oidc/oidc-sign-in.js';
export type { OidcSignIn, PendingSignIn, CompletedSignIn } from './providers/oidc/oidc-sign-in.js';
export type { OidcSignInOptions } from './providers/oidc/oidc-options.js';
export {
  DEFAULT_OIDC_TIMEOUT_MS,
  DEFAULT_REFRESH_BEFORE_EXPIRY_SEC,
} from './providers/oidc/oidc-options.js';
export { createMemoryOidcTokenStore } from './providers/oidc/oidc-token-store.js';
export type { IdpTokens, OidcTokenStore } from './providers/oidc/oidc-token-store.js';
export { oidcSessionStrategy } from './providers/oidc/oidc-session-strategy.js';
export { exchangeStrategy } from './outbound/exchange-strategy.js';
export type { ExchangeStrategyOptions } from './outbound/exchange-strategy.js';
export { oidcRoutes } from './express/oidc-routes.js';
export type { OidcRoutesOptions } from './express/oidc-routes.js';
