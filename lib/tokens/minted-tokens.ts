import { jwtVerify } from 'jose';
import { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import type { MintRequest } from './session-types.js';
import {
  ACCESS_TOKEN_TYPE,
  keyFor,
  nowSec,
  signToken,
  STATE_TYPE,
  type TokenContext,
} from './token-context.js';
import { actClaim, userClaims } from './token-claims.js';

/**
 * A token for one upstream, minted for the person with the agent as the RFC 8693 actor. It
 * never outlives the session or token that justified it.
 */
export async function mintToken(
  context: TokenContext,
  identity: Identity,
  request: MintRequest,
): Promise<string> {
  if (identity.kind !== 'user') {
    throw new IdentityError(
      'service_account_refused',
      'Tokens are minted for people only; this identity is a service account.',
      { details: { rule: identity.serviceAccountRule ?? null } },
    );
  }
  const iat = nowSec(context);
  const exp = Math.min(iat + request.ttlSec, identity.expiresAt ?? Number.POSITIVE_INFINITY);
  if (exp <= iat) {
    throw new IdentityError(
      'token_expired',
      "The user's session has expired, so no token can be minted on their behalf; sign in again.",
    );
  }
  const claims = {
    ...userClaims(identity, context.issuer),
    aud: request.audience,
    client_id: request.agent,
    act: actClaim(request.agent, identity.actor),
    jti: context.generateId(),
  };
  return signToken(context, claims, ACCESS_TOKEN_TYPE, iat, exp);
}

/** Seals short-lived state (a pending sign-in) for a cookie: signed, typed, addressed to us. */
export function sealState(
  context: TokenContext,
  data: Record<string, string>,
  ttlSec: number,
): Promise<string> {
  const iat = nowSec(context);
  const claims = { ...data, aud: `${context.issuer}#state` };
  return signToken(context, claims, STATE_TYPE, iat, iat + ttlSec);
}

/** Opens what {@link sealState} sealed; rejects when it was altered or has expired. */
export async function openState(
  context: TokenContext,
  sealed: string,
): Promise<Record<string, string>> {
  const { payload } = await jwtVerify(sealed, (header) => keyFor(context.byKid, header.kid), {
    issuer: context.issuer,
    audience: `${context.issuer}#state`,
    typ: STATE_TYPE,
    algorithms: [...context.algorithms],
    currentDate: new Date(context.now()),
  });
  return Object.fromEntries(
    Object.entries(payload).filter(
      (entry): entry is [string, string] =>
        typeof entry[1] === 'string' && !['iss', 'aud'].includes(entry[0]),
    ),
  );
}
