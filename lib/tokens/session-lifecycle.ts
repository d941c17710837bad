import type { JWTPayload } from 'jose';
import { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import type { IssuedSession } from './session-types.js';
import {
  ACCESS_TOKEN_TYPE,
  nowSec,
  REFRESH_TOKEN_TYPE,
  signToken,
  verifyOwn,
  type TokenContext,
} from './token-context.js';
import { identityFromSessionClaims, userClaims } from './token-claims.js';
import { storeCall } from '../core/store-call.js';

const SESSION_STORE_DOWN = 'The session store cannot be reached; retry shortly.';

// How far past its deadline a session's revocation is kept: the longest clock tolerance a
// verifier may apply (300 s).
const REVOCATION_SLACK_SEC = 300;

/** A new session for a person: an access token and a rotating refresh token. */
export async function issueSession(
  context: TokenContext,
  identity: Identity,
): Promise<IssuedSession> {
  if (identity.kind !== 'user') {
    throw new IdentityError(
      'service_account_refused',
      'This account is a service account; sessions are issued to people only, so that the assistant never acts as a shared account.',
      { details: { rule: identity.serviceAccountRule ?? null } },
    );
  }
  return startOrContinue(
    context,
    userClaims(identity, context.issuer),
    context.generateId(),
    nowSec(context) + context.refreshTtlSec,
    identity,
  );
}

/**
 * New tokens for a refresh token, which is spent: a refresh token used twice was copied, one of
 * its two holders is a thief and there is no telling which, so the session ends for both.
 */
export async function refreshSession(
  context: TokenContext,
  refreshToken: string,
): Promise<IssuedSession> {
  let claims;
  try {
    claims = await verifyOwn(context, refreshToken, REFRESH_TOKEN_TYPE, context.refreshAudience);
  } catch (cause) {
    throw refreshRefused('The refresh token is not valid or has expired; sign in again.', cause);
  }
  const { store } = context;
  const { sid, jti, exp } = claims;
  if (await storeCall(() => store.isSessionRevoked(sid), SESSION_STORE_DOWN)) {
    throw refreshRefused('This session was signed out; sign in again.');
  }
  if (!(await storeCall(() => store.consumeRefreshToken(jti, exp), SESSION_STORE_DOWN))) {
    await storeCall(() => store.revokeSession(sid, exp + REVOCATION_SLACK_SEC), SESSION_STORE_DOWN);
    throw refreshRefused(
      'This refresh token was already used, so the session was ended for safety; sign in again.',
      undefined,
      { reuse: true },
    );
  }
  const carried = Object.fromEntries(
    Object.entries(claims).filter(
      ([name]) => !['jti', 'sid', 'exp', 'iat', 'iss', 'aud'].includes(name),
    ),
  );
  return startOrContinue(context, carried, sid, exp, identityFromSessionClaims(claims));
}

/** Ends the session an access or refresh token belongs to; returns who it was. */
export async function signOutSession(context: TokenContext, token: string): Promise<Identity> {
  const claims = await verifyAnyOwn(context, token);
  await revokeSession(context, claims.sid);
  return identityFromSessionClaims(claims);
}

/** Ends a session by its id: its tokens are refused from now on. */
export async function revokeSession(context: TokenContext, sessionId: string): Promise<void> {
  const until = nowSec(context) + context.refreshTtlSec + REVOCATION_SLACK_SEC;
  await storeCall(() => context.store.revokeSession(sessionId, until), SESSION_STORE_DOWN);
}

async function startOrContinue(
  context: TokenContext,
  claims: JWTPayload,
  sessionId: string,
  deadline: number,
  identity: Identity,
): Promise<IssuedSession> {
  const iat = nowSec(context);
  const accessExp = Math.min(iat + context.sessionTtlSec, deadline);
  const base = { ...claims, sid: sessionId };
  const [accessToken, refreshToken] = await Promise.all([
    signToken(
      context,
      { ...base, aud: context.audience, jti: context.generateId() },
      ACCESS_TOKEN_TYPE,
      iat,
      accessExp,
    ),
    signToken(
      context,
      { ...base, aud: context.refreshAudience, jti: context.generateId() },
      REFRESH_TOKEN_TYPE,
      iat,
      deadline,
    ),
  ]);
  return Object.freeze({
    accessToken,
    tokenType: 'Bearer',
    expiresIn: accessExp - iat,
    refreshToken,
    refreshExpiresIn: deadline - iat,
    sessionId,
    identity,
  });
}

async function verifyAnyOwn(context: TokenContext, token: string) {
  const attempts: [string, string][] = [
    [ACCESS_TOKEN_TYPE, context.audience],
    [REFRESH_TOKEN_TYPE, context.refreshAudience],
  ];
  let lastError: unknown;
  for (const [type, expected] of attempts) {
    try {
      // An expired access token still names a session whose refresh token may be alive:
      // signing out with it must end that session, as long as the session could still exist.
      return await verifyOwn(context, token, type, expected, context.refreshTtlSec);
    } catch (error) {
      lastError = error;
    }
  }
  throw new IdentityError(
    'token_malformed',
    'The token to sign out is not a valid session or refresh token of this application.',
    { cause: lastError },
  );
}

function refreshRefused(
  message: string,
  cause?: unknown,
  details?: Record<string, unknown>,
): IdentityError {
  return new IdentityError('refresh_token_invalid', message, {
    ...(cause === undefined ? {} : { cause }),
    ...(details === undefined ? {} : { details }),
  });
}
