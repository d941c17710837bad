import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { algorithmsToUse, keyWeakness, type JwsAlgorithm } from '../../bearer/algorithms.js';
import type { Claims } from '../../core/claims.js';
import type { IssuerView } from './bearer-settings.js';
import type { OnceFetch } from './once-fetch.js';
import { bounded } from './token-view.js';

/** Which key the token asks for, where it was looked for, and what was found. */
export interface KeyReport {
  /** `the JWKS at <url>`, `the configured public key`, `the configured secret`... */
  readonly source: string;
  readonly jwksUri: string | undefined;
  /** Why the JWKS could not be read, when it could not. */
  readonly fetchProblem: string | undefined;
  /** The token header's `kid`; null when it has none. */
  readonly kidWanted: string | null;
  /** The `kid`s the key source offers (a JWKS, or an in-memory key set). */
  readonly kidsOffered: readonly string[] | undefined;
  /** `RSA 2048 bits`, `EC prime256v1`, `HMAC secret of 48 bytes`; undefined when not found. */
  readonly keyFound: string | undefined;
  /** Why the key found cannot verify anything (too short, private, unsupported). */
  readonly keyProblem: string | undefined;
  /** The algorithms the key found verifies, as the verifier narrows them. */
  readonly algorithms: readonly JwsAlgorithm[];
}

/** A key report and the key itself, which stays out of every output. */
export interface KeyLookup {
  readonly report: KeyReport;
  readonly key: KeyObject | Uint8Array | undefined;
}

/**
 * Looks up the key a token names the way the verifier does (by `kid`, or the single key when
 * the token has none), to say which key was asked for and which were on offer. A JWKS is read
 * through `once`, so this costs no request the authenticator did not already make.
 *
 * @example
 * ```ts
 * const { report } = await lookUpKey(view, header, once);
 * report.kidsOffered; // ['2024-11', '2025-02']
 * ```
 */
export async function lookUpKey(
  view: IssuerView,
  header: Claims | undefined,
  once: OnceFetch,
): Promise<KeyLookup> {
  const kid = header?.['kid'];
  const kidWanted = typeof kid === 'string' ? bounded(kid, 64) : null;
  const keys = view.keys;
  switch (keys.kind) {
    case 'jwksUri': {
      const fetched = await once.document(keys.uri, view.jwksTimeoutMs);
      const base = { source: `the JWKS at ${keys.uri}`, jwksUri: keys.uri, kidWanted };
      if (!fetched.ok) return notFound({ ...base, fetchProblem: fetched.problem });
      const listed = parseJwks(fetched.body);
      if (listed === undefined) {
        return notFound({ ...base, fetchProblem: 'its answer is not a JSON Web Key Set' });
      }
      return fromKeySet(view, listed, typeof kid === 'string' ? kid : undefined, base);
    }
    case 'jwks': {
      const base = { source: 'the in-memory JWKS ("jwks")', jwksUri: undefined, kidWanted };
      return fromKeySet(view, keys.keys, typeof kid === 'string' ? kid : undefined, base);
    }
    case 'publicKey':
      return found(view, { source: 'the configured public key', kidWanted }, keys.key, undefined);
    case 'secret': {
      const secret =
        typeof keys.secret === 'string' ? new Uint8Array(Buffer.from(keys.secret)) : keys.secret;
      return found(view, { source: 'the configured secret', kidWanted }, secret, undefined);
    }
  }
}

interface Base {
  readonly source: string;
  readonly jwksUri?: string | undefined;
  readonly kidWanted: string | null;
  readonly kidsOffered?: readonly string[];
  readonly fetchProblem?: string;
}

function notFound(base: Base): KeyLookup {
  return {
    report: {
      jwksUri: undefined,
      fetchProblem: undefined,
      kidsOffered: undefined,
      ...base,
      keyFound: undefined,
      keyProblem: undefined,
      algorithms: [],
    },
    key: undefined,
  };
}

// A JWKS answers a token with a kid by that kid, and one without a kid only when it holds
// exactly one signing key (as the verifier does: with several, picking one would be a guess).
function fromKeySet(
  view: IssuerView,
  keys: readonly JsonWebKey[],
  kid: string | undefined,
  base: Base,
): KeyLookup {
  const signing = keys.filter((jwk) => jwk['use'] === undefined || jwk['use'] === 'sig');
  const kidsOffered = signing
    .map((jwk) => jwk['kid'])
    .filter((value): value is string => typeof value === 'string')
    .map((value) => bounded(value, 64));
  const match =
    kid === undefined
      ? signing.length === 1
        ? signing[0]
        : undefined
      : signing.find((jwk) => jwk['kid'] === kid);
  if (match === undefined) return notFound({ ...base, kidsOffered });
  const named = typeof match['alg'] === 'string' ? match['alg'] : undefined;
  const material: JsonWebKey | Uint8Array =
    match.kty === 'oct' ? new Uint8Array(Buffer.from(String(match.k), 'base64url')) : match;
  return found(view, { ...base, kidsOffered }, material, named);
}

function found(
  view: IssuerView,
  base: Base,
  material: JsonWebKey | Uint8Array | KeyObject | string,
  named: string | undefined,
): KeyLookup {
  let key: KeyObject | Uint8Array;
  try {
    key = material instanceof Uint8Array ? material : toKeyObject(material);
  } catch {
    return withKey(base, undefined, 'the key cannot be read as a public key', []);
  }
  const problem = keyWeakness(key);
  const algorithms = problem === undefined ? algorithmsToUse(key, named, view.algorithms) : [];
  return withKey(base, key, problem, algorithms);
}

function withKey(
  base: Base,
  key: KeyObject | Uint8Array | undefined,
  keyProblem: string | undefined,
  algorithms: readonly JwsAlgorithm[],
): KeyLookup {
  return {
    report: {
      jwksUri: undefined,
      fetchProblem: undefined,
      kidsOffered: undefined,
      ...base,
      keyFound: key === undefined ? 'an unreadable key' : describeKey(key),
      keyProblem,
      algorithms,
    },
    key,
  };
}

function toKeyObject(material: JsonWebKey | KeyObject | string): KeyObject {
  if (typeof material === 'string') return createPublicKey(material);
  if ('asymmetricKeyType' in material && 'export' in material) return material as KeyObject;
  return createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
}

/**
 * A key in a few words: `RSA 2048 bits`, `EC prime256v1`, `Ed25519`, `HMAC secret of 48 bytes`.
 *
 * @example
 * ```ts
 * describeKey(createPublicKey(pem)); // 'RSA 2048 bits'
 * ```
 */
export function describeKey(key: KeyObject | Uint8Array): string {
  if (key instanceof Uint8Array) return `HMAC secret of ${key.byteLength} bytes`;
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `${key.asymmetricKeyType.toUpperCase()} ${details?.modulusLength ?? '?'} bits`;
    case 'ec':
      return `EC ${details?.namedCurve ?? 'unknown curve'}`;
    case 'ed25519':
      return 'Ed25519';
    default:
      return key.asymmetricKeyType ?? key.type;
  }
}

/**
 * The keys of a JSON Web Key Set document, or undefined when the text is not one.
 *
 * @example
 * ```ts
 * parseJwks('{"keys":[{"kty":"RSA","kid":"a","n":"...","e":"AQAB"}]}')?.length; // 1
 * ```
 */
export function parseJwks(text: string): JsonWebKey[] | undefined {
  try {
    const document: unknown = JSON.parse(text);
    const keys = (document as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) return undefined;
    return keys.filter(
      (key): key is JsonWebKey => typeof key === 'object' && key !== null && !Array.isArray(key),
    );
  } catch {
    return undefined;
  }
}
