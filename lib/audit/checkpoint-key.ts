import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** A key as the options take it: a KeyObject, a PEM string, or a JWK. */
export type AuditKeyInput = KeyObject | string | JsonWebKey;

/** The algorithms audit checkpoints are signed with. */
export type CheckpointAlgorithm = 'EdDSA' | 'ES256' | 'RS256';

/** A checkpoint key, checked, with the JWS algorithm its type calls for. */
export interface CheckpointKey {
  readonly key: KeyObject;
  readonly algorithm: CheckpointAlgorithm;
}

const MIN_RSA_BITS = 2048;

/**
 * The private key that signs checkpoints: Ed25519 (EdDSA), EC P-256 (ES256) or RSA of at least
 * 2048 bits (RS256). Anything else (a public key, a secret, another curve, a short RSA key)
 * throws a TypeError that starts with `where` (the factory and the option) and never contains
 * the key.
 */
export function checkpointSigningKey(input: AuditKeyInput, where: string): CheckpointKey {
  let key: KeyObject;
  try {
    key = toKeyObject(input, 'private');
  } catch (cause) {
    throw new TypeError(
      `${where}: must be a private key (a KeyObject, a PEM string or a private JWK): ${reason(cause)}`,
      { cause },
    );
  }
  return { key, algorithm: algorithmOf(key, where) };
}

/**
 * The public key that verifies checkpoints. A private key is accepted too (its public part is
 * used), so that the same file works while testing; `isPrivate` says which it was.
 */
export function checkpointVerificationKey(
  input: AuditKeyInput,
  where: string,
): CheckpointKey & { readonly isPrivate: boolean } {
  let key: KeyObject;
  let isPrivate = false;
  try {
    key = toKeyObject(input, 'public');
    if (key.type === 'private') {
      isPrivate = true;
      key = createPublicKey(key);
    }
  } catch (cause) {
    throw new TypeError(
      `${where}: must be a public key (a KeyObject, a PEM string or a JWK): ${reason(cause)}`,
      { cause },
    );
  }
  return { key, algorithm: algorithmOf(key, where), isPrivate };
}

function toKeyObject(input: AuditKeyInput, wanted: 'private' | 'public'): KeyObject {
  if (isKeyObject(input)) {
    if (input.type === 'secret')
      throw new TypeError('a secret key cannot sign for others to verify');
    if (wanted === 'private' && input.type !== 'private') {
      throw new TypeError('a public key cannot sign');
    }
    return input;
  }
  if (typeof input === 'string') {
    if (wanted === 'private') return createPrivateKey(input);
    return /PRIVATE KEY-----/.test(input) ? createPrivateKey(input) : createPublicKey(input);
  }
  // Options come from JavaScript too: null, a number or a JWK without `kty` are not keys.
  const value: unknown = input;
  if (typeof value !== 'object' || value === null || typeof input.kty !== 'string') {
    throw new TypeError('not a key');
  }
  if (wanted === 'private' && typeof input.d !== 'string') {
    throw new TypeError('a public JWK cannot sign (no "d")');
  }
  return typeof input.d === 'string'
    ? createPrivateKey({ key: input, format: 'jwk' })
    : createPublicKey({ key: input, format: 'jwk' });
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && 'type' in value && 'export' in value;
}

function algorithmOf(key: KeyObject, where: string): CheckpointAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'rsa') {
    const bits = details?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new TypeError(`${where}: RSA keys need at least ${MIN_RSA_BITS} bits (got ${bits})`);
    }
    return 'RS256';
  }
  throw new TypeError(
    `${where}: use an Ed25519 (EdDSA), EC P-256 (ES256) or RSA (RS256) key; got ${type ?? 'an unknown key'}${details?.namedCurve === undefined ? '' : ` on ${details.namedCurve}`}`,
  );
}

// Node's messages about a key name what is wrong with its format, never its content.
function reason(cause: unknown): string {
  return cause instanceof Error ? cause.message : 'not a key';
}
