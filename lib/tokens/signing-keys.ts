import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { JWK } from 'jose';
import type { z } from 'zod';
import { MIN_HMAC_SECRET_BYTES, MIN_RSA_MODULUS_BITS } from '../bearer/algorithms.js';
import { lazySchema } from '../core/lazy-zod.js';

/** The algorithms the package signs its own tokens with. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256', 'HS256'] as const;
/** An algorithm the package signs its own tokens with. */
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** One signing key: a private EC P-256 or RSA key (published in the JWKS), or an HMAC secret. */
export const signingKeySchema = lazySchema((z) => {
  const keyObject = z.custom<KeyObject>(
    (value) => typeof value === 'object' && value !== null && 'asymmetricKeyType' in value,
  );
  const jwk = z.looseObject({ kty: z.string() });
  const kid = z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -')
    .optional();
  return z.union([
    z.strictObject({
      /** A PEM private key, a private JWK, or a private KeyObject (EC P-256 or RSA >= 2048 bits). */
      privateKey: z.union([z.string().min(1), jwk, keyObject]),
      /** Default: the key's RFC 7638 thumbprint. */
      kid,
    }),
    z.strictObject({
      /**
       * An HS256 secret of at least 32 bytes. **Trade-off:** HMAC tokens can only be verified by
       * holders of the same secret, so no JWKS is published and every verifier can also forge.
       */
      secret: z.union([z.string(), z.instanceof(Uint8Array)]),
      kid,
    }),
  ]);
});

/** One signing key as the options take it: a private key (PEM, JWK or KeyObject) or a secret. */
export type SigningKeyOptions = z.input<ReturnType<typeof signingKeySchema>>;

/** A key ready to sign with, and what verifiers need to check its signatures. */
export interface SigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly signingKey: KeyObject;
  /** What verifies the signature: the public key, or the secret itself for HS256. */
  readonly verificationKey: KeyObject;
  /** The public JWK for the JWKS route; undefined for HMAC secrets, which are never published. */
  readonly publicJwk: Readonly<{ kty: string } & JWK> | undefined;
}

/**
 * Checks the configured signing keys once, at startup. The first key signs; the others only
 * verify, which is how keys are rotated: add the new key first, remove the old one after the
 * longest token lifetime has passed.
 */
export function loadSigningKeys(
  inputs: readonly z.output<ReturnType<typeof signingKeySchema>>[],
  optionName: string,
): readonly SigningKey[] {
  const keys = inputs.map((input, index) => loadSigningKey(input, `${optionName}.${index}`));
  const symmetric = keys.filter((key) => key.algorithm === 'HS256').length;
  if (symmetric > 0 && symmetric < keys.length) {
    throw new TypeError(
      `option "${optionName}": mix of HMAC secrets and private keys; use one kind (HMAC tokens cannot be checked through a JWKS)`,
    );
  }
  const kids = keys.map((key) => key.kid);
  const repeated = kids.find((value, index) => kids.indexOf(value) !== index);
  if (repeated !== undefined) {
    throw new TypeError(`option "${optionName}": the kid "${repeated}" is used twice`);
  }
  return Object.freeze(keys);
}

function loadSigningKey(
  input: z.output<ReturnType<typeof signingKeySchema>>,
  optionName: string,
): SigningKey {
  if ('secret' in input) {
    const bytes =
      typeof input.secret === 'string' ? Buffer.from(input.secret, 'utf8') : input.secret;
    if (bytes.byteLength < MIN_HMAC_SECRET_BYTES) {
      throw new TypeError(
        `option "${optionName}.secret": an HS256 secret needs at least ${MIN_HMAC_SECRET_BYTES} bytes (got ${bytes.byteLength}); generate one with: openssl rand -base64 48`,
      );
    }
    const secret = createSecretKey(Buffer.from(bytes));
    return Object.freeze({
      kid: input.kid ?? 'hs256',
      algorithm: 'HS256',
      signingKey: secret,
      verificationKey: secret,
      publicJwk: undefined,
    });
  }
  const privateKey = toPrivateKey(input.privateKey, `${optionName}.privateKey`);
  const algorithm = signingAlgorithmFor(privateKey, `${optionName}.privateKey`);
  const publicKey = createPublicKey(privateKey);
  const exported = publicKey.export({ format: 'jwk' }) as JWK;
  const keyId = input.kid ?? thumbprint(exported);
  return Object.freeze({
    kid: keyId,
    algorithm,
    signingKey: privateKey,
    verificationKey: publicKey,
    publicJwk: Object.freeze({
      ...exported,
      kty: exported.kty ?? 'EC',
      kid: keyId,
      alg: algorithm,
      use: 'sig',
    }),
  });
}

// RFC 7638 §3: the SHA-256 of the required members in lexicographic order, no whitespace.
// Written here because jose's calculateJwkThumbprint is asynchronous, and key loading happens in
// synchronous factories (a configuration error must throw where the option is given).
function thumbprint(key: JWK): string {
  const members =
    key.kty === 'EC'
      ? { crv: key.crv, kty: key.kty, x: key.x, y: key.y }
      : { e: key.e, kty: key.kty, n: key.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function toPrivateKey(input: string | JsonWebKey | KeyObject, optionName: string): KeyObject {
  try {
    if (typeof input === 'string') return createPrivateKey(input);
    if (isKeyObject(input)) {
      if (input.type !== 'private') throw new TypeError('a private key is needed to sign');
      return input;
    }
    if (typeof input.d !== 'string') {
      throw new TypeError('a private JWK (with "d") is needed to sign');
    }
    return createPrivateKey({ key: input, format: 'jwk' });
  } catch (cause) {
    const reason = cause instanceof TypeError ? cause.message : 'not a PEM or JWK private key';
    throw new TypeError(`option "${optionName}": ${reason}`, { cause });
  }
}

function isKeyObject(value: object): value is KeyObject {
  return 'asymmetricKeyType' in value && 'export' in value;
}

function signingAlgorithmFor(key: KeyObject, optionName: string): SigningAlgorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') {
    if ((details?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) {
      throw new TypeError(
        `option "${optionName}": RSA keys need at least ${MIN_RSA_MODULUS_BITS} bits (got ${details?.modulusLength ?? 0})`,
      );
    }
    return 'RS256';
  }
  throw new TypeError(
    `option "${optionName}": use an EC P-256 key (ES256) or an RSA key (RS256); got ${key.asymmetricKeyType ?? 'an unknown key'}${details?.namedCurve === undefined ? '' : ` on ${details.namedCurve}`}`,
  );
}

/**
 * A fresh private key for {@link createSessionTokens}: for demos and tests. Tokens signed with
 * it stop verifying when the process restarts, and instances do not share it; production
 * deployments load a stored key (`openssl ecparam -name prime256v1 -genkey -noout`).
 *
 * @example
 * ```ts
 * const sessions = createSessionTokens({ issuer, signingKeys: [generateSigningKey()] });
 * ```
 */
export function generateSigningKey(algorithm: 'ES256' | 'RS256' = 'ES256'): {
  privateKey: KeyObject;
} {
  const { privateKey } =
    algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey };
}
