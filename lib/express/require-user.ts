import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { IdentityError } from '../core/errors.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption } from '../core/option-schemas.js';
import { parseOptions } from '../core/options.js';
import { createRequirementsPolicy, requirementsShape } from '../core/route-requirements.js';
import { apiKeyRefused } from '../bearer/bearer-token.js';
import { auditThenContinue } from './audit-decision.js';
import { requestState } from './request-state.js';

const requireUserSchema = lazySchema((z) =>
  z.strictObject({
    ...requirementsShape(),
    /** The agent this route serves, recorded as the audit `source`. Default: authenticate's. */
    source: z.string().min(1).max(100).optional(),
    /** Injectable clock for audit timestamps. Default: `Date.now`. */
    now: functionOption<() => number>().optional(),
  }),
);

/** Options of {@link requireUser}. */
export type RequireUserOptions = z.input<ReturnType<typeof requireUserSchema>>;

/**
 * Guards an AI route: only a real, signed-in person gets through, with the roles, groups and
 * scopes the route names. Service accounts, app-only and client-credentials tokens and API keys
 * are refused unless `dangerouslyAllowServiceAccounts` says otherwise. Every decision is audited.
 *
 * @example
 * ```ts
 * app.post('/ai/chat', requireUser({ roles: ['sales_readonly', 'sales_admin'] }), chatHandler);
 * ```
 */
export function requireUser(options: RequireUserOptions = {}): RequestHandler {
  const {
    source,
    now: nowOption,
    ...requirements
  } = parseOptions(requireUserSchema(), options, 'requireUser');
  const now = nowOption ?? Date.now;
  const policy = createRequirementsPolicy(requirements, 'requireUser');

  // Everything but the `allow` predicate is decided synchronously: a guarded request costs
  // no promise unless the route asks for a predicate.
  function decideNow(req: Request): IdentityError | undefined {
    const state = requestState(req);
    const identity = req.identity;
    if (identity === undefined) {
      if (!state.authenticated) {
        return new IdentityError(
          'authentication_not_configured',
          'The server is misconfigured: mount authenticate() before requireUser().',
        );
      }
      if (state.apiKeyHeader !== undefined) return apiKeyRefused(state.apiKeyHeader);
      return new IdentityError(
        'credentials_missing',
        'This route acts on behalf of a person: send the signed-in user\'s access token as "Authorization: Bearer <token>".',
      );
    }
    return policy.refusal(identity);
  }

  function conclude(req: Request, error: IdentityError | undefined, next: NextFunction): void {
    const state = requestState(req);
    // This decision names the same person: the deferred authentication event is not needed.
    state.audit.supersede();
    const decision = {
      action: 'authorize',
      identity: req.identity,
      source,
      now,
      ...(error === undefined ? {} : { error }),
    };
    auditThenContinue(req, state, decision, () => next(), next);
  }

  return function requireUserHandler(req: Request, _res: Response, next: NextFunction): void {
    const refusal = decideNow(req);
    if (refusal !== undefined || !policy.hasPredicate || req.identity === undefined) {
      conclude(req, refusal, next);
      return;
    }
    void policy.predicateRefusal(req.identity).then((error) => {
      conclude(req, error, next);
    }, next);
  };
}
