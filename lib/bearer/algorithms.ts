import type { KeyObject } from 'node:crypto';

/** The JWS algorithms this package verifies. `none` is not, and never will be, among them. */
export const SUPPORTED_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** One of the {@link SUPPORTED_ALGORITHMS}. */
export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
const HMAC_MIN_BYTES = { HS256: 32, HS384: 48, HS512: 64 } as const;

/** The minimum size of an HS256 secret, in bytes. */
export const MIN_HMAC_SECRET_BYTES = HMAC_MIN_BYTES.HS256;

/** The smallest RSA modulus accepted (NIST SP 800-131A). */
export const MIN_RSA_MODULUS_BITS = 2048;

const EC_CURVE_ALGORITHMS: Readonly<Record<string, JwsAlgorithm>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/**
 * The algorithms a key can verify, derived from the key itself. Deriving the list from the key
 * (rather than trusting the token's `alg`) is what defeats HS/RS key confusion: an RSA public
 * key can never be used as an HMAC secret.
 */
export function algorithmsForKey(key: KeyObject | Uint8Array): JwsAlgorithm[] {
  if (key instanceof Uint8Array) {
    return (Object.keys(HMAC_MIN_BYTES) as (keyof typeof HMAC_MIN_BYTES)[]).filter(
      (alg) => key.byteLength >= HMAC_MIN_BYTES[alg],
    );
  }
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const alg = EC_CURVE_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? [] : [alg];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/**
 * The algorithms a key is used with (RFC 8725 §3.1: one algorithm per key). The one its JWK
 * names (RFC 7517 §4.4), if the configuration allows it; else the configured ones the key can
 * verify; else the one its type implies: RS256 for RSA, PS256 for RSA-PSS, HS256 for a secret,
 * the curve's for EC, EdDSA for Ed25519. Without this, an RSA key published without `alg` would
 * also verify PS256, RS384 and RS512 tokens that its owner never signs.
 */
export function algorithmsToUse(
  key: KeyObject | Uint8Array,
  named: string | undefined,
  configured: readonly JwsAlgorithm[] | undefined,
): JwsAlgorithm[] {
  const capable = algorithmsForKey(key);
  if (named !== undefined) {
    return capable.filter((alg) => alg === named && (configured?.includes(alg) ?? true));
  }
  if (configured !== undefined) return capable.filter((alg) => configured.includes(alg));
  return defaultAlgorithms(key, capable);
}

function defaultAlgorithms(key: KeyObject | Uint8Array, capable: JwsAlgorithm[]): JwsAlgorithm[] {
  if (key instanceof Uint8Array) return capable.includes('HS256') ? ['HS256'] : [];
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256'];
    case 'rsa-pss':
      return ['PS256'];
    default:
      // EC curves imply one algorithm; EdDSA and Ed25519 are two names of one.
      return capable;
  }
}

/**
 * Why a key must not be used for verification, or undefined when it is fit. Checked once,
 * when the key is configured or first fetched.
 */
export function keyWeakness(key: KeyObject | Uint8Array): string | undefined {
  if (key instanceof Uint8Array) {
    return key.byteLength < MIN_HMAC_SECRET_BYTES
      ? `an HS256 secret needs at least ${MIN_HMAC_SECRET_BYTES} bytes (got ${key.byteLength}); generate one with: openssl rand -base64 48`
      : undefined;
  }
  if (key.type !== 'public') {
    return 'a private key was given where the public key belongs; pass the public key only';
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < MIN_RSA_MODULUS_BITS) {
    return `RSA keys need at least ${MIN_RSA_MODULUS_BITS} bits (got ${bits})`;
  }
  if (algorithmsForKey(key).length === 0) {
    return `key type "${key.asymmetricKeyType ?? key.type}" is not supported for JWT signatures`;
  }
  return undefined;
}
