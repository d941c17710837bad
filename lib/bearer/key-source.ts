import { createPublicKey, type KeyObject, type JsonWebKey } from 'node:crypto';
import type { JWSHeaderParameters } from 'jose';
import { IdentityError } from '../core/errors.js';
import { algorithmsForKey, algorithmsToUse, keyWeakness, type JwsAlgorithm } from './algorithms.js';

/**
 * A verification key and the only algorithms it may be used with: one by default (RFC 8725
 * §3.1), see {@link algorithmsToUse}.
 */
export interface ResolvedKey {
  readonly key: KeyObject | Uint8Array;
  readonly algorithms: readonly JwsAlgorithm[];
}

/** Where an issuer's verification keys come from: a static key, or a JWKS endpoint. */
export interface KeySource {
  /**
   * The key for a token header; throws an `IdentityError` when none fits. A key source answers
   * from its cache without a promise.
   */
  resolve(header: JWSHeaderParameters): ResolvedKey | Promise<ResolvedKey>;
  /** Fetches remote keys ahead of the first request; a no-op for static keys. */
  warm(): Promise<void>;
}

/** Key material accepted for a static public key. */
export type PublicKeyInput = string | JsonWebKey | KeyObject;

/**
 * A static secret or public key. The key is checked once, here: a short secret, a private key
 * or a weak RSA key stops the application at startup with the option's name.
 */
export function staticKeySource(
  material: { secret: string | Uint8Array } | { publicKey: PublicKeyInput },
  allowed: readonly JwsAlgorithm[] | undefined,
  optionName: string,
  named?: string,
): KeySource {
  const key =
    'secret' in material ? toSecret(material.secret) : toPublicKey(material.publicKey, optionName);
  const weakness = keyWeakness(key);
  if (weakness !== undefined) throw new TypeError(`option "${optionName}": ${weakness}`);
  restrictAlgorithms(algorithmsForKey(key), allowed, optionName);
  const algorithms = algorithmsToUse(key, named, allowed);
  if (algorithms.length === 0) {
    throw new TypeError(
      `option "${optionName}": the key names algorithm "${named}", which it cannot verify or "algorithms" does not allow`,
    );
  }
  const resolved: ResolvedKey = Object.freeze({ key, algorithms: Object.freeze(algorithms) });
  return { resolve: () => Promise.resolve(resolved), warm: () => Promise.resolve() };
}

/**
 * Keys held in memory as a JSON Web Key Set, chosen by the token's `kid` (a token without one
 * is accepted only when the set has a single key). Each key goes through the same checks as a
 * static key; symmetric (`oct`) keys are HMAC secrets.
 */
export function localJwksKeySource(
  jwks: { keys: readonly JsonWebKey[] },
  allowed: readonly JwsAlgorithm[] | undefined,
  optionName: string,
): KeySource {
  const byKid = new Map<string | undefined, KeySource>();
  jwks.keys.forEach((jwk, index) => {
    const name = `${optionName}.keys.${index}`;
    const named = typeof jwk['alg'] === 'string' ? jwk['alg'] : undefined;
    const source =
      jwk.kty === 'oct'
        ? staticKeySource({ secret: Buffer.from(String(jwk.k), 'base64url') }, allowed, name, named)
        : staticKeySource({ publicKey: withoutKid(jwk) }, allowed, name, named);
    const kid = typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined;
    if (byKid.has(kid)) throw new TypeError(`option "${name}": the kid "${kid}" is used twice`);
    byKid.set(kid, source);
  });
  const only = byKid.size === 1 ? [...byKid.values()][0] : undefined;
  return {
    resolve(header) {
      const source = header.kid === undefined ? only : byKid.get(header.kid);
      if (source === undefined) {
        return Promise.reject(
          new IdentityError(
            'token_key_unknown',
            'The token was signed with a key this issuer does not (or no longer) use; sign in again.',
            { details: { kid: header.kid?.slice(0, 64) ?? null } },
          ),
        );
      }
      return source.resolve(header);
    },
    warm: () => Promise.resolve(),
  };
}

// createPublicKey() takes key material only; the JWKS metadata members are left out.
function withoutKid(jwk: JsonWebKey): JsonWebKey {
  const material: JsonWebKey = {};
  for (const [name, value] of Object.entries(jwk)) {
    if (!['kid', 'alg', 'use', 'key_ops'].includes(name)) material[name] = value;
  }
  return material;
}

/**
 * The configured allow-list narrowed to what the key can do. Asking for an algorithm the key
 * cannot verify is a configuration mistake, reported at startup rather than as a 401 later.
 */
export function restrictAlgorithms(
  fromKey: readonly JwsAlgorithm[],
  configured: readonly JwsAlgorithm[] | undefined,
  optionName: string,
): JwsAlgorithm[] {
  if (configured === undefined) return [...fromKey];
  const impossible = configured.filter((alg) => !fromKey.includes(alg));
  if (impossible.length > 0) {
    throw new TypeError(
      `option "algorithms": ${impossible.join(', ')} cannot be verified with the key in "${optionName}" (it supports ${fromKey.join(', ')})`,
    );
  }
  return [...configured];
}

function toSecret(secret: string | Uint8Array): Uint8Array {
  // A KeyObject would work too, but jose's HMAC check reads the raw length from a Uint8Array.
  return typeof secret === 'string' ? new Uint8Array(Buffer.from(secret, 'utf8')) : secret;
}

function toPublicKey(input: PublicKeyInput, optionName: string): KeyObject {
  try {
    if (typeof input === 'string') {
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(input)) {
        throw new TypeError('a private key was given where the public key belongs');
      }
      return createPublicKey(input);
    }
    if (isKeyObject(input)) {
      if (input.type === 'secret') throw new TypeError('a secret KeyObject belongs in "secret"');
      return input;
    }
    if (typeof input.d === 'string') {
      throw new TypeError('a private JWK ("d" present) was given where the public key belongs');
    }
    if (input.kty === 'oct') {
      throw new TypeError('a symmetric JWK belongs in "secret", not "publicKey"');
    }
    return createPublicKey({ key: input, format: 'jwk' });
  } catch (cause) {
    const reason =
      cause instanceof TypeError ? cause.message : 'not a PEM public key or a public JWK';
    throw new TypeError(`option "${optionName}": ${reason}`, { cause });
  }
}

function isKeyObject(value: unknown): value is KeyObject {
  return (
    typeof value === 'object' && value !== null && 'asymmetricKeyType' in value && 'export' in value
  );
}
