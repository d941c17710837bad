import './express/request-identity.js';

export { authenticate } from './express/authenticate.js';
export type { AuthenticateMiddleware, AuthenticateOptions } from './express/authenticate.js';
export { requireUser } from './express/require-user.js';
export type { RequireUserOptions } from './express/require-user.js';
export { identityErrorHandler } from './express/error-handler.js';
export { sessionRoutes } from './express/session-routes.js';
export type { SessionRoutesOptions } from './express/session-routes.js';
export { jwksRoute } from './express/jwks-route.js';
export { identityStrategy, type IdentityStrategyOptions } from './express/passport-strategy.js';
export { DEFAULT_AUDIT_SOURCE } from './audit/audit-event.js';

export {
  IdentityError,
  isIdentityError,
  IDENTITY_ERROR_CODES,
  clientMessage,
} from './core/errors.js';
export type { IdentityErrorCode, IdentityErrorOptions } from './core/errors.js';
export type { Identity, IdentityKind, Actor } from './core/identity.js';
export { buildIdentity } from './core/build-identity.js';
export type { IdentityFields } from './core/build-identity.js';
export { DEFAULT_SESSION_COOKIE } from './core/session-cookie.js';
export { getCurrentIdentity, getCurrentRequestId } from './core/request-context.js';
export { CLAIM_PRESETS, CLAIM_PRESET_NAMES } from './core/claim-presets.js';
export type { ClaimPresetName } from './core/claim-presets.js';
export type { MappingConfig } from './core/identity-mapping.js';
export {
  SERVICE_ACCOUNT_RULES,
  DEFAULT_SERVICE_ACCOUNT_RULES,
  denyListRule,
} from './core/service-accounts.js';
export type {
  ServiceAccountRule,
  ServiceAccountInput,
  DenyListOptions,
} from './core/service-accounts.js';
export { checkRequirements, createRequirementsPolicy } from './core/route-requirements.js';
export type {
  PasswordAuthenticator,
  PasswordCredentials,
  PasswordSignInContext,
} from './core/password-sign-in.js';

export { createSessionTokens } from './tokens/session-tokens.js';
export type {
  SessionTokens,
  IssuedSession,
  MintRequest,
  PublicJwk,
} from './tokens/session-tokens.js';
export type { SessionTokensOptions } from './tokens/session-options.js';
export {
  DEFAULT_SESSION_TTL_MIN,
  DEFAULT_REFRESH_TTL_MIN,
  DEFAULT_MINT_TTL_SEC,
} from './tokens/session-options.js';
export { createMemorySessionStore } from './tokens/session-store.js';
export { sessionLifetimesFromEnv } from './tokens/session-env.js';
export type { SessionStore } from './tokens/session-store.js';
export { generateSigningKey, SIGNING_ALGORITHMS } from './tokens/signing-keys.js';
export type { SigningKeyOptions, SigningAlgorithm } from './tokens/signing-keys.js';
export type { RouteRequirements, RequirementsPolicy } from './core/route-requirements.js';

export { createBearerAuthenticator } from './bearer/bearer-authenticator.js';
export { DEFAULT_API_KEY_HEADERS } from './bearer/authenticator-options.js';
export type { AuthenticatorOptions } from './bearer/authenticator-options.js';
export type { AuthenticationRequest, BearerAuthenticator } from './bearer/bearer-authenticator.js';
export type { IssuerOptions } from './bearer/issuer-options.js';
export { fromEnv, ENV_VARIABLES } from './bearer/from-env.js';
export { SUPPORTED_ALGORITHMS } from './bearer/algorithms.js';
export type { JwsAlgorithm } from './bearer/algorithms.js';

export { createPassthrough } from './outbound/passthrough.js';
export type {
  Passthrough,
  PassthroughFetch,
  PassthroughInit,
  PassthroughOptions,
} from './outbound/passthrough.js';
export type { UpstreamOptions } from './outbound/upstream-options.js';
export type { Upstream, CredentialStrategy } from './outbound/upstream.js';
export { forwardStrategy } from './outbound/credential-strategy.js';
export { mintStrategy } from './outbound/mint-strategy.js';
export type { MintStrategyOptions } from './outbound/mint-strategy.js';
export { dreamFactory } from './outbound/dreamfactory.js';
export type { DreamFactoryClient, DreamFactoryQuery } from './outbound/dreamfactory.js';
export { axiosPassthrough } from './outbound/axios-interceptor.js';

export { createMemoryAuditSink } from './audit/audit-sink.js';
export type { AuditSink, MemoryAuditSink } from './audit/audit-sink.js';
export { createConsoleAuditSink } from './audit/console-sink.js';
export type { AuditEvent, AuditOutcome } from './audit/audit-event.js';
export type { AuditFailureHandler, AuditFailurePolicy } from './audit/auditor.js';
export { createWinstonAuditSink } from './audit/winston-sink.js';
export type { WinstonAuditSink, WinstonAuditSinkOptions } from './audit/winston-sink.js';
export { toEcs, ECS_VERSION, ECS_AUDIT_DATASET } from './audit/to-ecs.js';
export type { EcsAuditEvent } from './audit/to-ecs.js';
export { verifyAuditTrail } from './audit/verify-audit-trail.js';
export type {
  AuditTrailProblem,
  AuditTrailProblemKind,
  AuditTrailReport,
  VerifyAuditTrailOptions,
} from './audit/verify-audit-trail.js';
export type { AuditFields } from './audit/checkpoint.js';
export type { AuditKeyInput } from './audit/checkpoint-key.js';

export { createHealthCheck, DEFAULT_HEALTH_JWKS_STALE_AFTER_MS } from './observe/health-check.js';
export type { HealthCheck, HealthCheckOptions } from './observe/health-check.js';
export type {
  AuditHealth,
  DirectoryHealth,
  HealthReport,
  HealthStatus,
  JwksHealth,
} from './observe/health-report.js';
export { healthRoute } from './express/health-route.js';
export { DIAGNOSTICS_CHANNELS } from './core/diagnostics.js';
export type {
  DecisionMessage,
  DirectoryMessage,
  DirectoryOperation,
  ForwardMessage,
  JwksFetchMessage,
  TokenCacheMessage,
} from './core/diagnostics.js';
