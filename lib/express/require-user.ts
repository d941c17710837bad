import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { IdentityError, isIdentityError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import { checkRequirements, requirementsShape } from '../core/route-requirements.js';
import { apiKeyRefused } from '../providers/jwt/bearer-token.js';
import { auditThenContinue } from './audit-decision.js';
import { requestState } from './request-state.js';

const requireUserSchema = z.strictObject({
  ...requirementsShape,
  /** The agent this route serves, recorded as the audit `source`. Default: authenticate's. */
  source: z.string().min(1).max(100).optional(),
  /** Injectable clock for audit timestamps. Default: `Date.now`. */
  now: z.custom<() => number>((value) => typeof value === 'function').optional(),
});

/** Options of {@link requireUser}. */
export type RequireUserOptions = z.input<typeof requireUserSchema>;

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
  } = parseOptions(requireUserSchema, options, 'requireUser');
  const now = nowOption ?? Date.now;

  async function decide(req: Request): Promise<IdentityError | undefined> {
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
    try {
      await checkRequirements(identity, requirements);
      return undefined;
    } catch (error) {
      if (isIdentityError(error)) return error;
      // A throwing `allow` predicate refuses: fail closed, and keep the error for the logs.
      return new IdentityError(
        'access_denied',
        "This route's access policy could not be evaluated.",
        {
          cause: error,
          details: { rule: 'allow' },
        },
      );
    }
  }

  return function requireUserHandler(req: Request, _res: Response, next: NextFunction): void {
    void decide(req)
      .then((error) => {
        const decision = {
          action: 'authorize',
          identity: req.identity,
          source,
          now,
          ...(error === undefined ? {} : { error }),
        };
        const state = requestState(req);
        // This decision names the same person: the deferred authentication event is not needed.
        state.pendingAuthentication = undefined;
        auditThenContinue(req, state, decision, () => next(), next);
      })
      .catch(next);
  };
}
