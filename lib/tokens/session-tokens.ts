import { randomUUID, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { z } from 'zod';
import { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { parseOptions } from '../core/options.js';
import type { IssuerOptions } from '../bearer/issuer-options.js';
import {
  DEFAULT_REFRESH_TTL_MIN,
  DEFAULT_SESSION_TTL_MIN,
  sessionTokensSchema,
  type SessionTokensOptions,
} from './session-options.js';
import { createMemorySessionStore, type SessionStore } from './session-store.js';
import type { SigningKey } from './signing-keys.js';
import { loadSigningKeys } from './signing-keys.js';
import { actClaim, identityFromSessionClaims, userClaims } from './token-claims.js';

// RFC 9068 §2.1: access tokens are typed, so that a refresh token (or an ID token) presented as
// an access token is refused by type, and an access token presented for a refresh likewise.
const ACCESS_TOKEN_TYPE = 'at+jwt';
const REFRESH_TOKEN_TYPE = 'rt+jwt';
// Refresh tokens are addressed to the refresh endpoint alone: with an audience of their own, no
// verifier that checks `aud` (but not `typ`) could take one for an access token.
const refreshAudienceOf = (issuer: string): string => `${issuer}#refresh`;
const STATE_TYPE = 'state+jwt';

/** A public key as the JWKS route publishes it. */
export type PublicJwk = Readonly<{ kty: string } & JWK>;

/** What a sign-in or a refresh hands the client. */
export interface IssuedSession {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  readonly expiresIn: number;
  readonly refreshToken: string;
  /** Seconds until the session ends for good (no refresh after that). */
  readonly refreshExpiresIn: number;
  /** The session id (`sid`), for audit trails; it is not a credential. */
  readonly sessionId: string;
  /** Who the session is for. */
  readonly identity: Identity;
}

/** A token for one upstream, minted for a user and naming the agent as the actor. */
export interface MintRequest {
  /** The upstream's audience (`aud`). */
  readonly audience: string;
  /** The agent acting for the user (RFC 8693 `act.sub`). */
  readonly agent: string;
  readonly ttlSec: number;
}

/** The package's own tokens: sessions for users without an IdP bearer, and minted tokens. */
export interface SessionTokens {
  readonly issuer: string;
  readonly audience: string;
  /** Starts a session for a signed-in person. Service accounts are refused. */
  issue(identity: Identity): Promise<IssuedSession>;
  /**
   * Trades a refresh token for new tokens (rotation). A refresh token works once: its second
   * use is taken as theft and ends the whole session (OAuth 2.0 Security BCP §4.14.2).
   */
  refresh(refreshToken: string): Promise<IssuedSession>;
  /**
   * Ends the session an access or refresh token belongs to; its tokens stop working at once.
   * Returns whose session it was, for the audit trail.
   */
  signOut(token: string): Promise<Identity>;
  /** Ends a session by its id (`identity.sessionId`): when its upstream tokens cannot be renewed. */
  revoke(sessionId: string): Promise<void>;
  /**
   * Seals short-lived browser state (an OIDC sign-in's PKCE verifier, state and nonce) into a
   * signed token for a cookie: any instance sharing the signing keys can read it back.
   */
  sealState(data: Record<string, string>, ttlSec: number): Promise<string>;
  /** Opens what {@link sealState} sealed; rejects when it was altered or has expired. */
  openState(sealed: string): Promise<Record<string, string>>;
  /** A short-lived token for one upstream; see `mintStrategy()`. */
  mint(identity: Identity, request: MintRequest): Promise<string>;
  /** The public keys, for the JWKS route (empty when signing with an HMAC secret). */
  readonly jwks: Readonly<{ keys: readonly PublicJwk[] }>;
  /**
   * The issuer entry that makes `authenticate()` accept these session tokens:
   * `authenticate({ issuers: [sessions.trustedIssuer(), ...] })`.
   */
  trustedIssuer(): IssuerOptions;
}

/**
 * Creates the package's token service: session tokens for people who signed in with a password
 * or through SAML (they have no IdP access token), refresh with rotation, sign-out, and tokens
 * minted for upstreams. Options are checked here, once.
 *
 * @example
 * ```ts
 * const sessions = createSessionTokens({
 *   issuer: 'https://assistant.example.com',
 *   signingKeys: [{ privateKey: process.env.SESSION_SIGNING_KEY_PEM }],
 * });
 * app.use(authenticate({ issuers: [sessions.trustedIssuer()] }));
 * ```
 */
export function createSessionTokens(options: SessionTokensOptions): SessionTokens {
  const parsed = parseOptions(sessionTokensSchema, options, 'createSessionTokens');
  return buildSessionTokens(parsed);
}

function buildSessionTokens(parsed: z.output<typeof sessionTokensSchema>): SessionTokens {
  const keys = loadSigningKeys(parsed.signingKeys, 'signingKeys');
  const signer = keys[0] as SigningKey;
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  // Every listed key verifies, whatever its algorithm: rotating from ES256 to RS256 lists both.
  const algorithms = [...new Set(keys.map((key) => key.algorithm))];
  const issuer = parsed.issuer;
  const audience = parsed.audience ?? issuer;
  const refreshAudience = refreshAudienceOf(issuer);
  const sessionTtlSec = (parsed.sessionTtlMin ?? DEFAULT_SESSION_TTL_MIN) * 60;
  const refreshTtlSec = (parsed.refreshTtlMin ?? DEFAULT_REFRESH_TTL_MIN) * 60;
  const store: SessionStore = parsed.store ?? createMemorySessionStore();
  const now = parsed.now ?? Date.now;
  const generateId = parsed.generateId ?? randomUUID;
  const nowSec = (): number => Math.floor(now() / 1000);
  const jwks = Object.freeze({
    keys: Object.freeze(
      keys.flatMap((key) => (key.publicJwk === undefined ? [] : [key.publicJwk])),
    ),
  });

  function sign(claims: JWTPayload, type: string, iat: number, exp: number): Promise<string> {
    return new SignJWT({ ...claims, jti: generateId() })
      .setProtectedHeader({ alg: signer.algorithm, kid: signer.kid, typ: type })
      .setIssuer(issuer)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(signer.signingKey);
  }

  async function startOrContinue(
    claims: JWTPayload,
    sessionId: string,
    deadline: number,
    identity: Identity,
  ): Promise<IssuedSession> {
    const iat = nowSec();
    const accessExp = Math.min(iat + sessionTtlSec, deadline);
    const base = { ...claims, sid: sessionId };
    const [accessToken, refreshToken] = await Promise.all([
      sign({ ...base, aud: audience }, ACCESS_TOKEN_TYPE, iat, accessExp),
      sign({ ...base, aud: refreshAudience }, REFRESH_TOKEN_TYPE, iat, deadline),
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

  async function verifyOwn(
    token: string,
    type: string,
    expectedAudience: string,
    expiredForSec = 0,
  ) {
    const { payload } = await jwtVerify(token, (header) => keyFor(byKid, header.kid), {
      issuer,
      audience: expectedAudience,
      typ: type,
      algorithms,
      requiredClaims: ['exp', 'iat', 'jti', 'sid', 'sub'],
      currentDate: new Date(now()),
      clockTolerance: expiredForSec,
    });
    return payload as JWTPayload & { jti: string; sid: string; exp: number; sub: string };
  }

  return Object.freeze({
    issuer,
    audience,
    jwks,
    async issue(identity: Identity) {
      if (identity.kind !== 'user') {
        throw new IdentityError(
          'service_account_refused',
          'This account is a service account; sessions are issued to people only, so that the assistant never acts as a shared account.',
          { details: { rule: identity.serviceAccountRule ?? null } },
        );
      }
      return startOrContinue(
        userClaims(identity, issuer),
        generateId(),
        nowSec() + refreshTtlSec,
        identity,
      );
    },
    async refresh(refreshToken: string) {
      let claims;
      try {
        claims = await verifyOwn(refreshToken, REFRESH_TOKEN_TYPE, refreshAudience);
      } catch (cause) {
        throw refreshRefused(
          'The refresh token is not valid or has expired; sign in again.',
          cause,
        );
      }
      if (await storeCall(() => store.isSessionRevoked(claims.sid))) {
        throw refreshRefused('This session was signed out; sign in again.');
      }
      if (!(await storeCall(() => store.consumeRefreshToken(claims.jti, claims.exp)))) {
        // A refresh token used twice was copied: one of the two holders is a thief, and there
        // is no telling which, so the session ends for both.
        // Past the deadline by the longest clock tolerance a verifier may apply (300 s).
        await storeCall(() => store.revokeSession(claims.sid, claims.exp + 300));
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
      const { sid, exp } = claims;
      return startOrContinue(carried, sid, exp, identityFromSessionClaims(claims));
    },
    async signOut(token: string) {
      const claims = await verifyAnyOwn(token);
      await storeCall(() => store.revokeSession(claims.sid, nowSec() + refreshTtlSec + 300));
      return identityFromSessionClaims(claims);
    },
    async revoke(sessionId: string) {
      await storeCall(() => store.revokeSession(sessionId, nowSec() + refreshTtlSec + 300));
    },
    async sealState(data: Record<string, string>, ttlSec: number) {
      const iat = nowSec();
      return new SignJWT({ ...data, aud: `${issuer}#state` })
        .setProtectedHeader({ alg: signer.algorithm, kid: signer.kid, typ: STATE_TYPE })
        .setIssuer(issuer)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSec)
        .sign(signer.signingKey);
    },
    async openState(sealed: string) {
      const { payload } = await jwtVerify(sealed, (header) => keyFor(byKid, header.kid), {
        issuer,
        audience: `${issuer}#state`,
        typ: STATE_TYPE,
        algorithms,
        currentDate: new Date(now()),
      });
      return Object.fromEntries(
        Object.entries(payload).filter(
          (entry): entry is [string, string] =>
            typeof entry[1] === 'string' && !['iss', 'aud'].includes(entry[0]),
        ),
      );
    },
    async mint(identity: Identity, request: MintRequest) {
      if (identity.kind !== 'user') {
        throw new IdentityError(
          'service_account_refused',
          'Tokens are minted for people only; this identity is a service account.',
          { details: { rule: identity.serviceAccountRule ?? null } },
        );
      }
      const iat = nowSec();
      // A minted token never outlives the session or token that justified it.
      const exp = Math.min(iat + request.ttlSec, identity.expiresAt ?? Number.POSITIVE_INFINITY);
      if (exp <= iat) {
        throw new IdentityError(
          'token_expired',
          "The user's session has expired, so no token can be minted on their behalf; sign in again.",
        );
      }
      return new SignJWT({
        ...userClaims(identity, issuer),
        aud: request.audience,
        client_id: request.agent,
        act: actClaim(request.agent, identity.actor),
        jti: generateId(),
      })
        .setProtectedHeader({ alg: signer.algorithm, kid: signer.kid, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(issuer)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(signer.signingKey);
    },
    trustedIssuer(): IssuerOptions {
      const isRevoked = (claims: JWTPayload): boolean | Promise<boolean> =>
        typeof claims['sid'] !== 'string' || store.isSessionRevoked(claims['sid']);
      return {
        issuer,
        audience,
        jwks: {
          keys: keys.map((key) => (key.publicJwk === undefined ? secretJwk(key) : key.publicJwk)),
        },
        // One allow-list applies to every key of the set, so it can only be given when the keys
        // share an algorithm; otherwise each key is limited to what its own type can verify.
        ...(algorithms.length === 1 ? { algorithms } : {}),
        requireAccessTokenType: true,
        requiredClaims: ['sid', 'jti', 'iat'],
        maxTokenLifetimeSec: Math.max(sessionTtlSec, 60),
        providerClaim: 'idp',
        isRevoked,
      };
    },
  });

  async function verifyAnyOwn(token: string) {
    const attempts: [string, string][] = [
      [ACCESS_TOKEN_TYPE, audience],
      [REFRESH_TOKEN_TYPE, refreshAudience],
    ];
    let lastError: unknown;
    for (const [type, expected] of attempts) {
      try {
        // An expired access token still names a session whose refresh token may be alive:
        // signing out with it must end that session, as long as the session could still exist.
        return await verifyOwn(token, type, expected, refreshTtlSec);
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
}

function keyFor(byKid: ReadonlyMap<string, SigningKey>, kid: string | undefined): KeyObject {
  const key = kid === undefined ? undefined : byKid.get(kid);
  if (key === undefined) throw new Error('unknown key id');
  return key.verificationKey;
}

function secretJwk(key: SigningKey): { kty: string } & JWK {
  return { kty: 'oct', ...(key.verificationKey.export({ format: 'jwk' }) as JWK), kid: key.kid };
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

async function storeCall<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw new IdentityError(
      'session_store_unavailable',
      'The session store cannot be reached; retry shortly.',
      { cause },
    );
  }
}
