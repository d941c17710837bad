// The framework-free API: everything an MCP server, a worker or a plain `node:http` server needs
// to authenticate the person behind a request, guard what it may do, act for them towards data
// APIs and audit it, without loading Express or passport. The Express adapter (the root entry)
// is built on these.

export { createBearerAuthenticator } from './bearer/bearer-authenticator.js';
export { DEFAULT_API_KEY_HEADERS } from './bearer/authenticator-options.js';
export type { AuthenticatorOptions } from './bearer/authenticator-options.js';
export type { AuthenticationRequest, BearerAuthenticator } from './bearer/bearer-authenticator.js';
export type { IssuerOptions } from './bearer/issuer-options.js';
export { fromEnv, ENV_VARIABLES } from './bearer/from-env.js';
export { SUPPORTED_ALGORITHMS } from './bearer/algorithms.js';
export type { JwsAlgorithm } from './bearer/algorithms.js';

export {
  IdentityError,
  isIdentityError,
  IDENTITY_ERROR_CODES,
  clientMessage,
} from './core/errors.js';
export type { IdentityErrorCode, IdentityErrorOptions } from './core/errors.js';
export { errorResponse } from './core/error-response.js';
export type { ErrorResponse } from './core/error-response.js';
export { credentialParts, auditedPathOf } from './core/node-request.js';
export type { NodeRequestParts, CredentialParts } from './core/node-request.js';
export { requestIdFrom } from './core/request-id.js';
export type { Identity, IdentityKind, Actor } from './core/identity.js';
export { buildIdentity } from './core/build-identity.js';
export type { IdentityFields } from './core/build-identity.js';
export {
  getCurrentIdentity,
  getCurrentRequestId,
  runInRequestScope,
  endRequestScope,
} from './core/request-context.js';
export type { RequestScope } from './core/request-context.js';
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
export type { RouteRequirements, RequirementsPolicy } from './core/route-requirements.js';
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
export { createMemorySessionStore } from './tokens/session-store.js';
export type { SessionStore } from './tokens/session-store.js';
export { sessionLifetimesFromEnv } from './tokens/session-env.js';
export { generateSigningKey, SIGNING_ALGORITHMS } from './tokens/signing-keys.js';
export type { SigningKeyOptions, SigningAlgorithm } from './tokens/signing-keys.js';

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

export { DEFAULT_AUDIT_SOURCE } from './audit/audit-event.js';
export type { AuditEvent, AuditOutcome } from './audit/audit-event.js';
export { createMemoryAuditSink } from './audit/audit-sink.js';
export type { AuditSink, MemoryAuditSink } from './audit/audit-sink.js';
export { createConsoleAuditSink } from './audit/console-sink.js';
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
export { createAuditTrailFromOptions as createAuditTrail } from './audit/audit-options.js';
export type { AuditTrailOptions } from './audit/audit-options.js';
export type { AuditFailureHandler, AuditFailurePolicy, AuditTrail } from './audit/auditor.js';
export { RequestAudit } from './audit/request-audit.js';
export type { RequestDecision, RequestFacts } from './audit/request-audit.js';
