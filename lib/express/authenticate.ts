import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { asIdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { auditOptionsShape, auditTrailFrom } from '../audit/audit-options.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { requestIdFrom } from '../core/request-id.js';
import { authenticatorShape } from '../bearer/authenticator-options.js';
import {
  compileBearerAuthenticator,
  type IdentifyingAuthenticator,
} from '../bearer/bearer-authenticator.js';
import type { AuditTrail } from '../audit/auditor.js';
import { auditThenContinue } from './audit-decision.js';
import { authenticationRequest } from './request-parts.js';
import { requestState, type RequestState } from './request-state.js';
import { continueAsUser } from './user-scope.js';

const authenticateSchema = lazySchema((z) =>
  z.strictObject({
    ...authenticatorShape(),
    ...auditOptionsShape,
    /** The agent acting for the user, recorded as `source`. Default: `ai-assistant`. */
    source: z.string().min(1).max(100).optional(),
    /** The `realm` of the WWW-Authenticate challenge. Default: none. */
    realm: z.string().min(1).max(100).optional(),
    /** Generates request ids when the caller sends none. Default: `crypto.randomUUID`. */
    generateRequestId: functionOption<() => string>().optional(),
  }),
);

/** Options of {@link authenticate}. */
export type AuthenticateOptions = z.input<ReturnType<typeof authenticateSchema>>;

/** The middleware, plus `warm()` to load remote keys before the first request. */
export interface AuthenticateMiddleware extends RequestHandler {
  /** Fetches every issuer's JWKS; rejects (503 `identity_provider_unavailable`) when one fails. */
  warm(): Promise<void>;
}

/**
 * Authenticates the person behind each request from an `Authorization: Bearer` JWT and puts a
 * frozen {@link Identity} on `req.identity` (and in the request scope for code without `req`).
 * Refusals go to `next(err)` as an `IdentityError` after an audit event is recorded; mount
 * {@link identityErrorHandler} to render them.
 *
 * @example
 * ```ts
 * app.use(authenticate({
 *   issuer: 'https://login.example.com/',
 *   audience: 'api://ai-assistant',
 *   jwksUri: 'https://login.example.com/.well-known/jwks.json',
 * }));
 * ```
 */
export function authenticate(options: AuthenticateOptions): AuthenticateMiddleware {
  const parsed = parseOptions(authenticateSchema(), options, 'authenticate');
  const { audit, onAuditFailure, auditFailurePolicy, source, realm, generateRequestId, ...core } =
    parsed;
  const authenticator = compileBearerAuthenticator(core, 'authenticate');
  const settings: Settings = Object.freeze({
    authenticator,
    trail: auditTrailFrom({ audit, auditFailurePolicy, onAuditFailure }),
    source,
    realm,
    generateRequestId,
    now: core.now ?? Date.now,
  });
  function authenticateHandler(req: Request, res: Response, next: NextFunction): void {
    identifyRequest(settings, req, res, next);
  }
  return Object.assign(authenticateHandler, { warm: () => authenticator.warm() });
}

/** One authenticate() middleware's settings; also what marks the requests it decided. */
interface Settings {
  readonly authenticator: IdentifyingAuthenticator;
  readonly trail: AuditTrail;
  readonly source: string | undefined;
  readonly realm: string | undefined;
  readonly generateRequestId: (() => string) | undefined;
  readonly now: () => number;
}

function identifyRequest(
  settings: Settings,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  const state = requestState(req);
  state.requestId ??= requestIdFrom(req.headers, settings.generateRequestId);
  state.audit.trail = settings.trail;
  state.audit.source ??= settings.source;
  state.realm ??= settings.realm;
  if (!res.headersSent) res.setHeader('X-Request-Id', state.requestId);
  // Mounted twice on one path (app and router): decided already. A second authenticate()
  // with other settings (another audience on an admin router, say) decides again.
  if (state.decidedBy === settings && req.identity !== undefined) {
    next();
    return;
  }
  // A repeated token is answered from the cache without a promise in sight; only a token
  // that needs verifying goes asynchronous.
  let outcome;
  try {
    outcome = settings.authenticator.identify(authenticationRequest(req));
  } catch (error) {
    refuse(settings, req, state, error, next);
    return;
  }
  if (!(outcome instanceof Promise)) {
    accept(settings, req, res, state, outcome, next);
    return;
  }
  outcome.then(
    (identity) => {
      accept(settings, req, res, state, identity, next);
    },
    (error: unknown) => {
      refuse(settings, req, state, error, next);
    },
  );
}

function refuse(
  settings: Settings,
  req: Request,
  state: RequestState,
  error: unknown,
  next: NextFunction,
): void {
  const refusal = asIdentityError(error, 'Authentication failed unexpectedly.');
  auditThenContinue(
    req,
    state,
    { action: 'authenticate', identity: undefined, error: refusal, now: settings.now },
    next,
    next,
  );
}

function accept(
  settings: Settings,
  req: Request,
  res: Response,
  state: RequestState,
  identity: Identity | undefined,
  next: NextFunction,
): void {
  state.authenticated = true;
  if (identity === undefined) {
    // Only an anonymous request needs this: a route guard names the API key it refuses.
    state.apiKeyHeader = settings.authenticator.findApiKeyHeader(req.headers);
    continueAsUser(req, res, state, identity, next);
    return;
  }
  state.decidedBy = settings;
  // Read-only: assignment throws. Configurable only so that a later authenticate() with
  // other settings can put its own decision in place.
  Object.defineProperty(req, 'identity', {
    value: identity,
    enumerable: true,
    writable: false,
    configurable: true,
  });
  // Under fail-open, one event per request suffices: requireUser's decision carries the same
  // identity; on a route without a guard, this one is written when the response ends.
  const written = state.audit.authenticated(identity, settings.now);
  if (written === undefined) {
    continueAsUser(req, res, state, identity, next);
    return;
  }
  written.then(() => {
    continueAsUser(req, res, state, identity, next);
  }, next);
}
