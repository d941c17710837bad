import { createBearerAuthenticator } from '../../bearer/bearer-authenticator.js';
import { isIdentityError, type IdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { createRequirementsPolicy } from '../../core/route-requirements.js';
import { issuerViews, settingName, type BearerSettings } from './bearer-settings.js';
import { UsageError } from './command-io.js';
import { describeGuard, routeRequirements, type GuardRequirements } from './guard-report.js';
import { summarizeIdentity } from './identity-report.js';
import { lookUpKey } from './key-report.js';
import { onceFetch } from './once-fetch.js';
import { observeLines, type Observed } from './observations.js';
import { CHECK_IDS, failingCheck, fixFor, type CheckId } from './refusals.js';
import { shown, viewToken } from './token-view.js';
import type { Explanation, CheckLine } from './explanation.js';

/** What to explain: a token, the application's bearer settings, and the route's guard. */
export interface ExplainInput {
  /** The bearer token (without `Bearer `). Only its fingerprint reaches the explanation. */
  readonly token: string;
  readonly settings: BearerSettings;
  readonly guard: GuardRequirements;
}

/**
 * Runs the application's real authenticator (`createBearerAuthenticator` with its settings) and
 * the route guard's real checks on a token, and explains the answer check by check. The verdict
 * and the failing check come from the middleware's own refusal (its code); each line's facts
 * (the kids on offer, the clock difference, the audiences) are read beside it from the token and
 * from the JWKS, which is fetched once for both. A setting the authenticator refuses is a
 * {@link UsageError} naming it.
 *
 * @example
 * ```ts
 * const explanation = await explainToken({ token, settings, guard });
 * explanation.passes; // false
 * explanation.checks.find((check) => check.status === 'fail')?.id; // 'time'
 * ```
 */
export async function explainToken(input: ExplainInput): Promise<Explanation> {
  const { settings, guard, token } = input;
  const once = onceFetch(settings.options.fetch ?? globalThis.fetch);
  const authenticator = buildAuthenticator(settings, once.fetch);
  const policy = createRequirementsPolicy(routeRequirements(guard), 'requireUser');
  const nowSec = Math.floor((settings.options.now ?? Date.now)() / 1000);
  const view = viewToken(token);
  const views = issuerViews(settings.options);
  const issuer = views.find((candidate) => candidate.issuer === view.payload?.['iss']);
  const outcome = await authenticateOnce(authenticator, token);
  const refusal = outcome.refusal ?? (outcome.identity && policy.refusal(outcome.identity));
  const key = issuer === undefined ? undefined : await lookUpKey(issuer, view.header, once);
  const identity =
    issuer === undefined || view.payload === undefined
      ? undefined
      : summarizeIdentity({
          identity: outcome.identity,
          claims: view.payload,
          issuer,
          options: settings.options,
        });
  const failing =
    refusal === undefined
      ? undefined
      : failingCheck(refusal, issuer, shown(view.header, 'alg'), guard.roles.length > 0);
  const facts = { view, trusted: views.map((v) => v.issuer), issuer, key, nowSec };
  const observed = await observeLines({ facts, token, identity, guard, failing });
  return {
    settings: settings.label,
    trustedIssuers: facts.trusted,
    token: {
      fingerprint: view.fingerprint,
      bytes: view.bytes,
      alg: shown(view.header, 'alg') ?? null,
      kid: shown(view.header, 'kid') ?? null,
      iss: shown(view.payload, 'iss') ?? null,
      jti: shown(view.payload, 'jti') ?? null,
    },
    checks: checkLines(observed, refusal, failing, (option) => settingName(settings, option)),
    identity,
    route: {
      guard: describeGuard(guard),
      status: refusal?.status ?? 200,
      code: refusal?.code ?? null,
      message: refusal?.message ?? null,
    },
    passes: refusal === undefined,
  };
}

function buildAuthenticator(settings: BearerSettings, fetch: typeof globalThis.fetch) {
  try {
    return createBearerAuthenticator({ ...settings.options, fetch }, 'createBearerAuthenticator');
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(`${settings.label}: ${error.message}`);
    throw error;
  }
}

async function authenticateOnce(
  authenticator: ReturnType<typeof createBearerAuthenticator>,
  token: string,
): Promise<{ identity: Identity | undefined; refusal: IdentityError | undefined }> {
  const authorization = `Bearer ${token}`;
  try {
    const identity = await authenticator.authenticate({
      authorization: [authorization],
      url: '/',
      method: 'POST',
      headers: { authorization },
    });
    return { identity, refusal: undefined };
  } catch (error) {
    if (isIdentityError(error)) return { identity: undefined, refusal: error };
    throw error;
  }
}

// Before the failing check, a check passed (unless its own facts disagree, when the middleware
// stopped earlier than this order suggests); the failing one fails; after it, nothing was decided.
function checkLines(
  observed: readonly Observed[],
  refusal: IdentityError | undefined,
  failing: CheckId | undefined,
  name: (option: string) => string,
): CheckLine[] {
  const failIndex = failing === undefined ? CHECK_IDS.length : CHECK_IDS.indexOf(failing);
  return observed.map(({ id, observation }) => {
    const index = CHECK_IDS.indexOf(id);
    const details = observation.details ?? {};
    if (index < failIndex) {
      return observation.ok
        ? { id, status: 'pass', summary: observation.summary, details }
        : { id, status: 'skip', summary: `not decided: ${observation.summary}`, details };
    }
    if (index > failIndex || refusal === undefined) {
      return { id, status: 'skip', summary: `not reached; ${observation.summary}`, details };
    }
    return {
      id,
      status: 'fail',
      summary: observation.summary,
      refusal: { status: refusal.status, code: refusal.code, message: refusal.message },
      fix: fixFor(refusal, name) ?? null,
      details: { ...details, ...refusal.details },
    };
  });
}
