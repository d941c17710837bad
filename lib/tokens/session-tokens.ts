import type { JWK, JWTPayload } from 'jose';
import type { Identity } from '../core/identity.js';
import { parseOptions } from '../core/options.js';
import type { JwsAlgorithm } from '../bearer/algorithms.js';
import type { IssuerOptions } from '../bearer/issuer-options.js';
import { mintToken, openState, sealState } from './minted-tokens.js';
import {
  sessionTokensSchema,
  type ParsedSessionTokensOptions,
  type SessionTokensOptions,
} from './session-options.js';
import {
  issueSession,
  refreshSession,
  revokeSession,
  signOutSession,
} from './session-lifecycle.js';
import type { SigningKey } from './signing-keys.js';
import type { MintRequest, SessionTokens } from './session-types.js';
import { compileTokenContext, type TokenContext } from './token-context.js';

export type { IssuedSession, MintRequest, PublicJwk, SessionTokens } from './session-types.js';

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
  const parsed = parseOptions(sessionTokensSchema(), options, 'createSessionTokens');
  return buildSessionTokens(parsed);
}

function buildSessionTokens(parsed: ParsedSessionTokensOptions): SessionTokens {
  const context = compileTokenContext(parsed);
  const jwks = Object.freeze({
    keys: Object.freeze(
      context.keys.flatMap((key) => (key.publicJwk === undefined ? [] : [key.publicJwk])),
    ),
  });
  return Object.freeze({
    issuer: context.issuer,
    audience: context.audience,
    jwks,
    issue: (identity: Identity) => issueSession(context, identity),
    refresh: (refreshToken: string) => refreshSession(context, refreshToken),
    signOut: (token: string) => signOutSession(context, token),
    revoke: (sessionId: string) => revokeSession(context, sessionId),
    sealState: (data: Record<string, string>, ttlSec: number) => sealState(context, data, ttlSec),
    openState: (sealed: string) => openState(context, sealed),
    mint: (identity: Identity, request: MintRequest) => mintToken(context, identity, request),
    trustedIssuer: () => trustedIssuer(context),
  });
}

// The issuer options under which authenticate() accepts this application's own access tokens:
// typed, with a session id checked against sign-outs on every request.
function trustedIssuer(context: TokenContext): IssuerOptions {
  const { store, algorithms } = context;
  const isRevoked = (claims: JWTPayload): boolean | Promise<boolean> =>
    typeof claims['sid'] !== 'string' || store.isSessionRevoked(claims['sid']);
  return {
    issuer: context.issuer,
    audience: context.audience,
    jwks: {
      keys: context.keys.map((key) =>
        key.publicJwk === undefined ? secretJwk(key) : key.publicJwk,
      ),
    },
    // One allow-list applies to every key of the set, so it can only be given when the keys
    // share an algorithm; otherwise each key is limited to what its own type can verify.
    ...(algorithms.length === 1 ? { algorithms: [...algorithms] as JwsAlgorithm[] } : {}),
    requireAccessTokenType: true,
    requiredClaims: ['sid', 'jti', 'iat'],
    maxTokenLifetimeSec: Math.max(context.sessionTtlSec, 60),
    providerClaim: 'idp',
    isRevoked,
  };
}

function secretJwk(key: SigningKey): { kty: string } & JWK {
  return { kty: 'oct', ...(key.verificationKey.export({ format: 'jwk' }) as JWK), kid: key.kid };
}
