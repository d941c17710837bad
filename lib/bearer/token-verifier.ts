import {
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import { IdentityError } from '../core/errors.js';
import { SUPPORTED_ALGORITHMS, type JwsAlgorithm } from './algorithms.js';
import { joseErrorToIdentityError } from './jose-errors.js';
import type { KeySource } from './key-source.js';

/** Default: 16384 bytes. Larger bearer tokens are refused before any parsing. */
export const DEFAULT_MAX_TOKEN_BYTES = 16_384;

/** One trusted issuer, compiled from its options at startup. */
export interface TrustedIssuer {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly keys: KeySource;
  readonly clockToleranceSec: number;
  readonly maxTokenAgeSec: number | undefined;
  readonly maxTokenLifetimeSec: number;
  readonly requiredClaims: readonly string[];
  readonly requireAccessTokenType: boolean;
}

export interface VerifiedToken<Issuer extends TrustedIssuer = TrustedIssuer> {
  readonly claims: JWTPayload;
  readonly header: ProtectedHeaderParameters;
  readonly issuer: Issuer;
}

export interface TokenVerifier<Issuer extends TrustedIssuer> {
  verify(token: string): Promise<VerifiedToken<Issuer>>;
  /** Loads every issuer's remote keys; rejects when one cannot be loaded. */
  warm(): Promise<void>;
}

// Header parameters that carry or point at a key. Trusting them lets the token choose the key
// that verifies it (CVE-2018-0114 and its kin); no issuer needs them for access tokens.
const KEY_BEARING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'] as const;
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/;
// Real key ids are UUIDs, thumbprints or short names; a longer one is an attack on a cache.
const MAX_KID_LENGTH = 256;

/**
 * Verifies bearer JWTs against several trusted issuers. A token is checked only against the
 * issuer it names, so an unknown issuer costs no key lookup and no network call.
 */
export function createTokenVerifier<Issuer extends TrustedIssuer>(options: {
  issuers: readonly Issuer[];
  maxTokenBytes: number;
  now: () => number;
}): TokenVerifier<Issuer> {
  const byIssuer = new Map(options.issuers.map((issuer) => [issuer.issuer, issuer]));

  async function verify(token: string): Promise<VerifiedToken<Issuer>> {
    const segments = compactSegments(token, options.maxTokenBytes);
    // The header is read first so that "alg: none" (often with an empty signature) is reported
    // as what it is rather than as a malformed token.
    const header = checkHeader(segments[0] ?? '');
    if (!segments.every((segment) => BASE64URL_SEGMENT.test(segment))) throw malformed();
    const issuer = selectIssuer(byIssuer, segments[1] ?? '');
    const resolved = await issuer.keys.resolve(header);
    if (!resolved.algorithms.includes(header.alg as JwsAlgorithm)) {
      throw algorithmRefused(header.alg, resolved.algorithms);
    }
    const nowSec = Math.floor(options.now() / 1000);
    let result;
    try {
      const key =
        resolved.key instanceof Uint8Array ? await hmacKey(resolved.key, header.alg) : resolved.key;
      result = await jwtVerify(token, key, verifyOptions(issuer, resolved.algorithms, nowSec));
    } catch (error) {
      throw joseErrorToIdentityError(error, issuer.audience, nowSec);
    }
    checkTimes(result.payload, issuer, nowSec);
    return { claims: result.payload, header: result.protectedHeader, issuer };
  }

  return {
    verify,
    async warm() {
      await Promise.all(options.issuers.map((issuer) => issuer.keys.warm()));
    },
  };
}

// The three segments of a compact JWS, refusing before any decoding what cannot be one.
function compactSegments(token: string, maxTokenBytes: number): string[] {
  if (token.length > maxTokenBytes) {
    throw new IdentityError(
      'token_too_large',
      `The token is larger than ${maxTokenBytes} bytes; no identity provider issues tokens that large.`,
    );
  }
  const segments = token.split('.');
  if (segments.length === 5) {
    throw new IdentityError(
      'token_encrypted',
      'The token is encrypted (JWE). Send a signed access token (JWS) for this API.',
    );
  }
  if (segments.length !== 3) throw malformed();
  return segments;
}

function selectIssuer<Issuer extends TrustedIssuer>(
  byIssuer: ReadonlyMap<string, Issuer>,
  payloadSegment: string,
): Issuer {
  const iss = peekSegment(payloadSegment)['iss'];
  const issuer = typeof iss === 'string' ? byIssuer.get(iss) : undefined;
  if (issuer === undefined) {
    throw new IdentityError(
      typeof iss === 'string' ? 'token_issuer_unknown' : 'token_claim_missing',
      typeof iss === 'string'
        ? 'The token was issued by an issuer this API does not trust. Sign in through the configured identity provider.'
        : 'The token has no "iss" claim, so its issuer cannot be checked.',
      { details: { claim: 'iss', ...(typeof iss === 'string' ? { iss } : {}) } },
    );
  }
  return issuer;
}

function verifyOptions(
  issuer: TrustedIssuer,
  algorithms: readonly string[],
  nowSec: number,
): JWTVerifyOptions {
  return {
    algorithms: [...algorithms],
    issuer: issuer.issuer,
    audience: [...issuer.audience],
    clockTolerance: issuer.clockToleranceSec,
    currentDate: new Date(nowSec * 1000),
    requiredClaims: ['exp', ...issuer.requiredClaims],
    ...(issuer.maxTokenAgeSec === undefined ? {} : { maxTokenAge: issuer.maxTokenAgeSec }),
    ...(issuer.requireAccessTokenType ? { typ: 'at+jwt' } : {}),
  };
}

/**
 * A header or payload segment, decoded only to choose the issuer and the key: jose then verifies
 * the whole token, signature and claims, and decodes it again for that. Decoded here with Node's
 * native base64url rather than jose's `decodeProtectedHeader`/`decodeJwt`, whose JavaScript
 * decoder made this peek a tenth of a verification's CPU; nothing read here is trusted beyond
 * the choice of issuer and key.
 */
function peekSegment(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch (cause) {
    throw malformed(cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed();
  return value as Record<string, unknown>;
}

function checkHeader(headerSegment: string): ProtectedHeaderParameters & { alg: string } {
  const header: ProtectedHeaderParameters = peekSegment(headerSegment);
  const alg = header.alg;
  if (typeof alg !== 'string' || !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
    // Covers "none" in every spelling, and anything else no key here can verify.
    throw algorithmRefused(alg, SUPPORTED_ALGORITHMS);
  }
  const kid: unknown = header.kid;
  if (
    kid !== undefined &&
    (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH)
  ) {
    throw new IdentityError(
      'token_malformed',
      `The token header's "kid" must be a non-empty string of at most ${MAX_KID_LENGTH} characters.`,
      { details: { header: ['kid'] } },
    );
  }
  const offered = KEY_BEARING_HEADERS.filter((name) => Object.hasOwn(header, name));
  if (offered.length > 0) {
    throw new IdentityError(
      'token_header_forbidden',
      `The token header offers its own key (${offered.join(', ')}); keys come only from the configured issuer.`,
      { details: { header: offered } },
    );
  }
  // RFC 7515 §4.1.11: a recipient must reject a token whose critical extensions it does not
  // understand, and this verifier understands none.
  if (Object.hasOwn(header, 'crit')) {
    throw new IdentityError(
      'token_header_forbidden',
      'The token header declares critical extensions ("crit") this API does not support.',
      { details: { header: ['crit'] } },
    );
  }
  return header as ProtectedHeaderParameters & { alg: string };
}

// jose checks exp/nbf, and iat only when maxTokenAge is set; these checks close the rest:
// an "iat" in the future and an "exp" absurdly far ahead (including 1e400, parsed as Infinity).
function checkTimes(claims: JWTPayload, issuer: TrustedIssuer, nowSec: number): void {
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new IdentityError(
      'token_claim_invalid',
      'The token\'s "exp" claim is not a valid time.',
      {
        details: { claim: 'exp' },
      },
    );
  }
  if (exp - nowSec > issuer.maxTokenLifetimeSec + issuer.clockToleranceSec) {
    throw new IdentityError(
      'token_lifetime_excessive',
      `The token is valid for longer than this API accepts (${issuer.maxTokenLifetimeSec} seconds). Request a shorter-lived token.`,
      { details: { claim: 'exp' } },
    );
  }
  const iat: unknown = claims.iat;
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) {
    throw new IdentityError(
      'token_claim_invalid',
      'The token\'s "iat" claim is not a valid time.',
      {
        details: { claim: 'iat' },
      },
    );
  }
  if (iat !== undefined && iat > nowSec + issuer.clockToleranceSec) {
    throw new IdentityError(
      'token_not_yet_valid',
      'The token claims to be issued in the future. Check the clocks of the identity provider and this server.',
      { details: { claim: 'iat' } },
    );
  }
}

function malformed(cause?: unknown): IdentityError {
  return new IdentityError(
    'token_malformed',
    'The bearer token is not a well-formed JWT (three base64url parts separated by dots).',
    { cause },
  );
}

function algorithmRefused(alg: unknown, allowed: readonly string[]): IdentityError {
  return new IdentityError(
    'token_algorithm_refused',
    `The token's signing algorithm is not accepted here (allowed: ${allowed.join(', ')}).`,
    { details: { alg: typeof alg === 'string' ? alg.slice(0, 32) : null } },
  );
}

// jose imports a raw HMAC secret into a CryptoKey on every verification (and a secret KeyObject
// the same way); importing once per secret and algorithm removes that cost from every request.
const hmacKeys = new WeakMap<Uint8Array, Map<string, Promise<CryptoKey>>>();

function hmacKey(secret: Uint8Array, alg: string): Promise<CryptoKey> {
  let byAlg = hmacKeys.get(secret);
  if (byAlg === undefined) {
    byAlg = new Map();
    hmacKeys.set(secret, byAlg);
  }
  let key = byAlg.get(alg);
  if (key === undefined) {
    key = crypto.subtle.importKey(
      'raw',
      secret,
      { name: 'HMAC', hash: `SHA-${alg.slice(2)}` },
      false,
      ['verify'],
    );
    byAlg.set(alg, key);
  }
  return key;
}
