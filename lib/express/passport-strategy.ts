import { createRequire } from 'node:module';
import type { Request, Response } from 'express';
import type { Strategy as PassportStrategy } from 'passport';
import type { z } from 'zod';
import { auditOptionsShape, auditTrailFrom } from '../audit/audit-options.js';
import type { AuditTrail } from '../audit/auditor.js';
import { asIdentityError, IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { runInRequestScope } from '../core/request-context.js';
import { requestIdFrom } from '../core/request-id.js';
import { authenticatorShape } from '../bearer/authenticator-options.js';
import {
  compileBearerAuthenticator,
  type IdentifyingAuthenticator,
} from '../bearer/bearer-authenticator.js';
import { auditDecision } from './audit-decision.js';
import { authenticationRequest } from './request-parts.js';
import { requestState, type RequestState } from './request-state.js';
import { continueAsUser } from './user-scope.js';

/** The name passport knows the strategy by unless the `name` option says otherwise. */
const DEFAULT_STRATEGY_NAME = 'identity-bearer';

const identityStrategySchema = lazySchema((z) =>
  z.strictObject({
    ...authenticatorShape(),
    ...auditOptionsShape,
    /** The agent acting for the user, recorded as `source`. Default: `ai-assistant`. */
    source: z.string().min(1).max(100).optional(),
    /** The `realm` of the WWW-Authenticate challenge. Default: none. */
    realm: z.string().min(1).max(100).optional(),
    /** Generates request ids when the caller sends none. Default: `crypto.randomUUID`. */
    generateRequestId: functionOption<() => string>().optional(),
    /** The name for `passport.use(strategy)` and `passport.authenticate(name)`. Default: `identity-bearer`. */
    name: z.string().min(1).max(100).optional(),
  }),
);

/**
 * Options of {@link identityStrategy}: those of `authenticate()` (issuer, audience, keys,
 * service-account rules, audit sink and policy, `source`, `realm`), plus the strategy's `name`.
 *
 * @example
 * ```ts
 * const options: IdentityStrategyOptions = {
 *   issuer: 'https://login.example.com/',
 *   audience: 'api://ai-assistant',
 *   jwksUri: 'https://login.example.com/.well-known/jwks.json',
 *   name: 'staff-bearer',
 * };
 * ```
 */
export type IdentityStrategyOptions = z.input<ReturnType<typeof identityStrategySchema>>;

/**
 * What {@link identityStrategy} returns: an instance of passport's `Strategy`, typed here by
 * what passport calls so that the package's declarations need no `@types/passport`.
 *
 * @example
 * ```ts
 * const strategy = identityStrategy(options);
 * await strategy.warm(); // a wrong JWKS URL fails at startup, not on the first request
 * app.use('/ai', passport.authenticate(strategy, { session: false }));
 * ```
 */
export interface IdentityStrategy {
  /** `identity-bearer`, or the `name` option. */
  readonly name: string;
  /** Called by `passport.authenticate()`, once per request; not for direct use. */
  authenticate(req: Request, options?: unknown): void;
  /** Fetches every issuer's JWKS; rejects (503 `identity_provider_unavailable`) when one fails. */
  warm(): Promise<void>;
}

/** One strategy's compiled settings; also what marks the requests it decided. */
interface Settings {
  readonly authenticator: IdentifyingAuthenticator;
  readonly trail: AuditTrail;
  readonly source: string | undefined;
  readonly realm: string | undefined;
  readonly generateRequestId: (() => string) | undefined;
  readonly now: () => number;
}

/** passport's per-request verdicts, read off the strategy when the request arrives. */
interface Verdicts {
  success(identity: Identity): void;
  fail(challenge: string, status: number): void;
  pass(): void;
  error(error: unknown): void;
}

/**
 * This package's bearer authentication as a passport strategy, for apps whose routes already
 * go through `passport.authenticate()`. On success `req.identity` (read-only, frozen),
 * `req.user` and `getCurrentIdentity()` all name the same {@link Identity}, and `requireUser()`
 * and the audit trail behave as after `authenticate()`.
 *
 * A missing, expired or otherwise unacceptable token is a passport failure (401 with its RFC
 * 6750 `WWW-Authenticate` challenge), so a chain of strategies can try the next one. Every other
 * refusal (403, 400, an identity provider outage as 503, never a 401) is a passport error,
 * rendered by `identityErrorHandler()` with its stable code. With `credentialsRequired: false`
 * a request without a credential passes with no user (passport's `pass()`).
 *
 * **Warning:** use `{ session: false }`. A login session would let the session cookie act as
 * the user after the token has expired or been revoked, and passport refuses a session login
 * without session middleware anyway.
 *
 * @example
 * ```ts
 * import passport from 'passport';
 * app.post(
 *   '/ai/chat',
 *   passport.authenticate(identityStrategy({ issuer, audience, jwksUri }), { session: false }),
 *   requireUser({ roles: ['sales_readonly'] }),
 *   chatHandler,
 * );
 * app.use(identityErrorHandler());
 * ```
 */
export function identityStrategy(options: IdentityStrategyOptions): IdentityStrategy {
  const parsed = parseOptions(identityStrategySchema(), options, 'identityStrategy');
  const {
    audit,
    onAuditFailure,
    auditFailurePolicy,
    source,
    realm,
    generateRequestId,
    name,
    ...core
  } = parsed;
  const settings: Settings = Object.freeze({
    authenticator: compileBearerAuthenticator(core, 'identityStrategy'),
    trail: auditTrailFrom({ audit, auditFailurePolicy, onAuditFailure }),
    source,
    realm,
    generateRequestId,
    now: core.now ?? Date.now,
  });
  const IdentityStrategyClass = passportIdentityStrategy();
  return new IdentityStrategyClass(name ?? DEFAULT_STRATEGY_NAME, settings);
}

type IdentityStrategyClass = new (name: string, settings: Settings) => IdentityStrategy;

const requireHere = createRequire(import.meta.url);
let strategyClass: IdentityStrategyClass | undefined;

// passport (and what it loads) is required the first time a strategy is made, not when the
// package is imported: an application that never calls identityStrategy() never loads it.
function passportIdentityStrategy(): IdentityStrategyClass {
  strategyClass ??= strategyExtending(
    (requireHere('passport') as { Strategy: typeof PassportStrategy }).Strategy,
  );
  return strategyClass;
}

function strategyExtending(Strategy: typeof PassportStrategy): IdentityStrategyClass {
  return class PassportIdentityStrategy extends Strategy implements IdentityStrategy {
    override readonly name: string;
    // Not a #private field: passport.use() makes each request's strategy with Object.create()
    // over this instance, and a private field is not found through the prototype chain.
    private readonly settings: Settings;

    constructor(name: string, settings: Settings) {
      super();
      this.name = name;
      this.settings = settings;
    }

    warm(): Promise<void> {
      return this.settings.authenticator.warm();
    }

    override authenticate(req: Request): void {
      // passport.authenticate(instance) writes each request's success/fail/error onto the one
      // shared instance: read after a verification's await, they could be another request's,
      // and this request would continue as someone else. Taken now, they are this request's.
      const verdicts: Verdicts = {
        success: this.success.bind(this),
        fail: this.fail.bind(this),
        pass: this.pass.bind(this),
        error: this.error.bind(this),
      };
      identifyRequest(this.settings, req, verdicts);
    }
  };
}

function identifyRequest(settings: Settings, req: Request, verdicts: Verdicts): void {
  const res = req.res;
  if (res === undefined) {
    verdicts.error(
      new IdentityError(
        'authentication_not_configured',
        'identityStrategy runs in an Express app: the request has no response (req.res).',
      ),
    );
    return;
  }
  const state = requestState(req);
  state.requestId ??= requestIdFrom(req.headers, settings.generateRequestId);
  state.audit.trail = settings.trail;
  state.audit.source ??= settings.source;
  state.realm ??= settings.realm;
  if (!res.headersSent) res.setHeader('X-Request-Id', state.requestId);
  // Mounted twice on one path (app and router): decided and audited already, in its scope.
  const decided = req.identity;
  if (state.decidedBy === settings && decided !== undefined && state.scope !== undefined) {
    runInRequestScope(state.scope, () => verdicts.success(decided));
    return;
  }
  // A repeated token is answered from the cache without a promise in sight.
  let outcome;
  try {
    outcome = settings.authenticator.identify(authenticationRequest(req));
  } catch (error) {
    refuse(req, state, settings, error, verdicts);
    return;
  }
  if (!(outcome instanceof Promise)) {
    accept(settings, req, res, state, outcome, verdicts);
    return;
  }
  outcome.then(
    (identity) => {
      accept(settings, req, res, state, identity, verdicts);
    },
    (error: unknown) => {
      refuse(req, state, settings, error, verdicts);
    },
  );
}

function refuse(
  req: Request,
  state: RequestState,
  settings: Settings,
  error: unknown,
  verdicts: Verdicts,
): void {
  const refusal = asIdentityError(error, 'Authentication failed unexpectedly.');
  const decide = () => {
    // 401 is passport's "not authenticated by this strategy": a chain may try the next one,
    // and passport's own 401 carries the RFC 6750 challenge errorResponse() would send.
    if (refusal.status === 401) {
      verdicts.fail(refusal.wwwAuthenticate(state.realm) ?? 'Bearer', 401);
    } else {
      // A 403 names a caller known and refused; a 5xx is our side's (a JWKS outage is no bad
      // token): neither may be answered by another strategy or rendered as passport's 401.
      verdicts.error(refusal);
    }
  };
  const decision = {
    action: 'authenticate',
    identity: undefined,
    error: refusal,
    now: settings.now,
  };
  const written = auditDecision(req, state, decision);
  // Under fail-closed a failed write changes nothing: the request is refused either way, for
  // the reason it was refused (authenticate() does the same).
  if (written === undefined) decide();
  else written.then(decide, decide);
}

function accept(
  settings: Settings,
  req: Request,
  res: Response,
  state: RequestState,
  identity: Identity | undefined,
  verdicts: Verdicts,
): void {
  state.authenticated = true;
  if (identity === undefined) {
    // credentialsRequired: false and no credential. A route guard names the API key it refuses.
    state.apiKeyHeader = settings.authenticator.findApiKeyHeader(req.headers);
    continueAsUser(req, res, state, undefined, () => verdicts.pass());
    return;
  }
  state.decidedBy = settings;
  // As authenticate() puts it: read-only, and configurable only so that a later authenticate()
  // with other settings can put its own decision in place.
  Object.defineProperty(req, 'identity', {
    value: identity,
    enumerable: true,
    writable: false,
    configurable: true,
  });
  // Under fail-open the event waits: requireUser's decision names the same person and
  // supersedes it, or it is written when the response ends.
  const written = state.audit.authenticated(identity, settings.now);
  const succeed = () => {
    continueAsUser(req, res, state, identity, () => verdicts.success(identity));
  };
  if (written === undefined) succeed();
  else written.then(succeed, (auditError: unknown) => verdicts.error(auditError));
}
