import { randomUUID, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import {
  DEFAULT_REFRESH_TTL_MIN,
  DEFAULT_SESSION_TTL_MIN,
  type ParsedSessionTokensOptions,
} from './session-options.js';
import { createMemorySessionStore, type SessionStore } from './session-store.js';
import { loadSigningKeys, type SigningKey } from './signing-keys.js';

// RFC 9068 §2.1: access tokens are typed, so that a refresh token (or an ID token) presented as
// an access token is refused by type, and an access token presented for a refresh likewise.
export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const REFRESH_TOKEN_TYPE = 'rt+jwt';
export const STATE_TYPE = 'state+jwt';

/** What every token operation of one `createSessionTokens()` shares, compiled once. */
export interface TokenContext {
  readonly keys: readonly SigningKey[];
  /** The first key signs; every key verifies (rotation). */
  readonly signer: SigningKey;
  readonly byKid: ReadonlyMap<string, SigningKey>;
  readonly algorithms: readonly string[];
  readonly issuer: string;
  readonly audience: string;
  readonly refreshAudience: string;
  readonly sessionTtlSec: number;
  readonly refreshTtlSec: number;
  readonly store: SessionStore;
  readonly now: () => number;
  readonly generateId: () => string;
}

export function compileTokenContext(parsed: ParsedSessionTokensOptions): TokenContext {
  const keys = loadSigningKeys(parsed.signingKeys, 'signingKeys');
  return Object.freeze({
    keys,
    signer: keys[0] as SigningKey,
    byKid: new Map(keys.map((key) => [key.kid, key])),
    // Every listed key verifies, whatever its algorithm: rotating from ES256 to RS256 lists both.
    algorithms: [...new Set(keys.map((key) => key.algorithm))],
    issuer: parsed.issuer,
    audience: parsed.audience ?? parsed.issuer,
    // Refresh tokens are addressed to the refresh endpoint alone: with an audience of their own,
    // no verifier that checks `aud` (but not `typ`) could take one for an access token.
    refreshAudience: `${parsed.issuer}#refresh`,
    sessionTtlSec: (parsed.sessionTtlMin ?? DEFAULT_SESSION_TTL_MIN) * 60,
    refreshTtlSec: (parsed.refreshTtlMin ?? DEFAULT_REFRESH_TTL_MIN) * 60,
    store: parsed.store ?? createMemorySessionStore(),
    now: parsed.now ?? Date.now,
    generateId: parsed.generateId ?? randomUUID,
  });
}

export function nowSec(context: TokenContext): number {
  return Math.floor(context.now() / 1000);
}

/** Signs claims with the current key, under this issuer, typed. */
export function signToken(
  context: TokenContext,
  claims: JWTPayload,
  type: string,
  iat: number,
  exp: number,
): Promise<string> {
  const { signer } = context;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.algorithm, kid: signer.kid, typ: type })
    .setIssuer(context.issuer)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(signer.signingKey);
}

/** Verifies a token this issuer signed, of one type and audience. */
export async function verifyOwn(
  context: TokenContext,
  token: string,
  type: string,
  expectedAudience: string,
  expiredForSec = 0,
) {
  const { payload } = await jwtVerify(token, (header) => keyFor(context.byKid, header.kid), {
    issuer: context.issuer,
    audience: expectedAudience,
    typ: type,
    algorithms: [...context.algorithms],
    requiredClaims: ['exp', 'iat', 'jti', 'sid', 'sub'],
    currentDate: new Date(context.now()),
    clockTolerance: expiredForSec,
  });
  return payload as JWTPayload & { jti: string; sid: string; exp: number; sub: string };
}

export function keyFor(byKid: ReadonlyMap<string, SigningKey>, kid: string | undefined): KeyObject {
  const key = kid === undefined ? undefined : byKid.get(kid);
  if (key === undefined) throw new Error('unknown key id');
  return key.verificationKey;
}
