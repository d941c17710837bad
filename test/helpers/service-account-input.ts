import {
  DEFAULT_SERVICE_ACCOUNT_RULES,
  type ClaimPresetName,
  type ServiceAccountInput,
} from '../../lib/index.js';
import type { Claims } from '../../lib/core/claims.js';
import { createIdentityMapper } from '../../lib/core/identity-mapping.js';
import { findServiceAccountRule } from '../../lib/core/service-accounts.js';

/** The fields a rule sees, computed by the same mapper production uses for the issuer's preset. */
export function inputFor(claims: Claims, preset: ClaimPresetName = 'generic'): ServiceAccountInput {
  const mapped = createIdentityMapper({ preset }).map(claims);
  return {
    claims,
    subject: mapped.subject,
    username: mapped.username,
    email: mapped.email,
    clientId: mapped.clientId,
  };
}

/** The name of the default rule that recognises the claims as a service account, if any. */
export const classify = (claims: Claims, preset: ClaimPresetName = 'generic'): string | undefined =>
  findServiceAccountRule(inputFor(claims, preset), DEFAULT_SERVICE_ACCOUNT_RULES)?.name;
