import type { JWK } from 'jose';
import type { Identity } from '../core/identity.js';
import type { IssuerOptions } from '../bearer/issuer-options.js';

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
