import type { GuardRequirements } from './guard-report.js';
import {
  observeGroups,
  observeRoles,
  observeScopes,
  observeServiceAccount,
} from './guard-report.js';
import type { IdentitySummary } from './identity-report.js';
import type { CheckId } from './refusals.js';
import { observeTimes } from './time-check.js';
import {
  observeAlgorithm,
  observeAudience,
  observeClaims,
  observeForm,
  observeIssuer,
  observeKey,
  observeSignature,
  type Observation,
  type TokenFacts,
} from './token-checks.js';

/** A check and what it found. */
export interface Observed {
  readonly id: CheckId;
  readonly observation: Observation;
}

/**
 * Every check the middleware and the route guard would run on this token, each with its own
 * facts, in the middleware's order. Checks that do not apply to this configuration (revocation
 * without `isRevoked`, scopes, roles or groups the route does not ask for) are left out, unless
 * the refusal names them.
 *
 * @example
 * ```ts
 * const lines = await observeLines({ facts, token, identity, guard, failing: 'time' });
 * ```
 */
export async function observeLines(input: {
  readonly facts: TokenFacts;
  readonly token: string;
  readonly identity: IdentitySummary | undefined;
  readonly guard: GuardRequirements;
  readonly failing: CheckId | undefined;
}): Promise<Observed[]> {
  const { facts, identity, guard, failing } = input;
  const wanted = (id: CheckId, applies: boolean) => applies || failing === id;
  const lines: [CheckId, boolean, () => Observation | Promise<Observation>][] = [
    ['token', true, () => observeForm(facts)],
    ['issuer', true, () => observeIssuer(facts)],
    ['key', true, () => observeKey(facts)],
    ['algorithm', true, () => observeAlgorithm(facts)],
    ['signature', true, () => observeSignature(facts, input.token)],
    ['claims', true, () => observeClaims(facts)],
    ['audience', true, () => observeAudience(facts)],
    ['time', true, () => observeTimes(facts.view.payload, facts.issuer, facts.nowSec)],
    ['revocation', facts.issuer?.revocable === true, () => observeRevocation(failing)],
    ['identity', true, () => observeIdentity(identity)],
    ['service-account', true, () => observeServiceAccount(identity, guard)],
    ['scopes', guard.scopes.length > 0, () => observeScopes(identity, guard.scopes)],
    ['roles', guard.roles.length > 0, () => observeRoles(identity, guard.roles)],
    ['groups', guard.groups.length > 0, () => observeGroups(identity, guard.groups)],
  ];
  const observed: Observed[] = [];
  for (const [id, applies, observe] of lines) {
    if (wanted(id, applies)) observed.push({ id, observation: await observe() });
  }
  return observed;
}

// isRevoked is the application's code; it is run once, by the authenticator, and only its
// answer is known here.
function observeRevocation(failing: CheckId | undefined): Observation {
  return failing === 'revocation'
    ? { ok: false, summary: 'isRevoked answered that the session was signed out, or failed' }
    : { ok: true, summary: 'isRevoked answered: not signed out' };
}

function observeIdentity(identity: IdentitySummary | undefined): Observation {
  if (identity === undefined)
    return { ok: false, summary: 'no identity: the token names no trusted issuer' };
  const from = identity.usernameClaim === undefined ? '' : ` (claim ${identity.usernameClaim})`;
  const email = identity.email === undefined ? '' : `, email ${identity.email}`;
  return {
    ok: true,
    summary: `username "${identity.username}"${from}${email}, subject "${identity.subject}"${identity.verified ? '' : ' (from the unverified claims)'}`,
  };
}
