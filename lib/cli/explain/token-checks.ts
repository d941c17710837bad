import { compactVerify } from 'jose';
import { SUPPORTED_ALGORITHMS } from '../../bearer/algorithms.js';
import type { IssuerView } from './bearer-settings.js';
import type { KeyLookup } from './key-report.js';
import { audiencesOf, bounded, shown, type TokenView } from './token-view.js';

/** What one check finds on its own, from the token and the settings. */
export interface Observation {
  readonly ok: boolean;
  readonly summary: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Everything the token checks look at. */
export interface TokenFacts {
  readonly view: TokenView;
  readonly trusted: readonly string[];
  /** The trusted issuer the token names, if any. */
  readonly issuer: IssuerView | undefined;
  readonly key: KeyLookup | undefined;
  readonly nowSec: number;
}

const KEY_BEARING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit'];

/**
 * The token's form: a compact JWS whose header names a supported algorithm and offers no key
 * of its own.
 *
 * @example
 * ```ts
 * observeForm(facts).summary; // 'a signed JWT: alg RS256, kid "k1", typ "JWT", 812 bytes'
 * ```
 */
export function observeForm({ view }: TokenFacts): Observation {
  if (view.segments === 5) return { ok: false, summary: 'an encrypted token (JWE, 5 parts)' };
  if (view.segments !== 3) {
    return { ok: false, summary: `not a JWT: ${view.segments} part(s), where a signed JWT has 3` };
  }
  if (view.header === undefined || view.payload === undefined) {
    return { ok: false, summary: 'not a JWT: its header or payload is not base64url-encoded JSON' };
  }
  const alg = shown(view.header, 'alg');
  if (alg === undefined || !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
    return { ok: false, summary: `the header names algorithm "${alg ?? ''}", never accepted` };
  }
  const offered = KEY_BEARING_HEADERS.filter((name) => Object.hasOwn(view.header ?? {}, name));
  if (offered.length > 0) {
    return {
      ok: false,
      summary: `the header offers its own key or extensions (${offered.join(', ')})`,
    };
  }
  const kid = shown(view.header, 'kid');
  const typ = shown(view.header, 'typ');
  return {
    ok: true,
    summary: `a signed JWT: alg ${alg}${kid === undefined ? ', no kid' : `, kid "${kid}"`}${typ === undefined ? '' : `, typ "${typ}"`}, ${view.bytes} bytes`,
  };
}

/**
 * Whether the token's `iss` is one of the trusted issuers.
 *
 * @example
 * ```ts
 * observeIssuer(facts).summary; // '"https://login.example.com/" is trusted'
 * ```
 */
export function observeIssuer({ view, trusted, issuer }: TokenFacts): Observation {
  const iss = shown(view.payload, 'iss');
  const details = { carried: iss ?? null, trusted };
  if (iss === undefined) return { ok: false, summary: 'the token has no "iss" claim', details };
  if (issuer === undefined) {
    return {
      ok: false,
      summary: `"${iss}" is not a trusted issuer (trusted: ${trusted.map((t) => `"${t}"`).join(', ')})`,
      details,
    };
  }
  return { ok: true, summary: `"${iss}" is trusted`, details };
}

/**
 * Whether the key the token names was found, where it was looked for, and what was on offer.
 *
 * @example
 * ```ts
 * observeKey(facts).summary; // 'kid "k1" found in the JWKS at https://...: RSA 2048 bits'
 * ```
 */
export function observeKey({ key }: TokenFacts): Observation {
  if (key === undefined) return { ok: false, summary: 'no trusted issuer, so no key to look up' };
  const { report } = key;
  const details = {
    jwks_uri: report.jwksUri ?? null,
    kid: report.kidWanted,
    kids_offered: report.kidsOffered ?? null,
  };
  const offered =
    report.kidsOffered === undefined
      ? ''
      : ` (it offers ${report.kidsOffered.length === 0 ? 'no key ids' : report.kidsOffered.map((kid) => `"${kid}"`).join(', ')})`;
  const wanted =
    report.kidWanted === null ? 'the only key (the token has no kid)' : `kid "${report.kidWanted}"`;
  if (report.fetchProblem !== undefined) {
    return {
      ok: false,
      summary: `${report.source} could not be read: ${report.fetchProblem}`,
      details,
    };
  }
  if (report.keyFound === undefined) {
    return { ok: false, summary: `${wanted} is not in ${report.source}${offered}`, details };
  }
  if (report.keyProblem !== undefined) {
    return {
      ok: false,
      summary: `${wanted} in ${report.source} is unusable: ${report.keyProblem}`,
      details,
    };
  }
  return {
    ok: true,
    summary: `${wanted} found in ${report.source}: ${report.keyFound}${offered}`,
    details,
  };
}

/**
 * Whether the token's algorithm is one the key found may verify.
 *
 * @example
 * ```ts
 * observeAlgorithm(facts).summary; // 'RS256 is allowed for this key (allowed: RS256)'
 * ```
 */
export function observeAlgorithm({ view, key }: TokenFacts): Observation {
  const alg = shown(view.header, 'alg') ?? '';
  const allowed = key?.report.algorithms ?? [];
  const details = { alg, allowed };
  if (key?.report.keyFound === undefined) {
    return {
      ok: false,
      summary: `${alg || 'no algorithm'}: no key found to check it against`,
      details,
    };
  }
  return (allowed as readonly string[]).includes(alg)
    ? {
        ok: true,
        summary: `${alg} is allowed for this key (allowed: ${allowed.join(', ')})`,
        details,
      }
    : {
        ok: false,
        summary: `${alg} is not allowed for this key (allowed: ${allowed.join(', ') || 'none'})`,
        details,
      };
}

/**
 * Whether the signature verifies with the key found (signature only: the claims are the other
 * checks' business). Only tried when a key was found and the algorithm is allowed.
 *
 * @example
 * ```ts
 * (await observeSignature(facts, token)).ok; // true
 * ```
 */
export async function observeSignature(facts: TokenFacts, token: string): Promise<Observation> {
  const key = facts.key?.key;
  const alg = shown(facts.view.header, 'alg') ?? '';
  if (key === undefined || !observeAlgorithm(facts).ok) {
    return { ok: false, summary: 'not checked: no usable key for this algorithm' };
  }
  try {
    await compactVerify(token, key, { algorithms: [alg] });
    return { ok: true, summary: `verifies with ${facts.key?.report.keyFound ?? 'the key'}` };
  } catch {
    return {
      ok: false,
      summary: `does not verify with ${facts.key?.report.keyFound ?? 'the key'}`,
    };
  }
}

/**
 * The token type (`at+jwt`, when required) and the required claims besides `exp`.
 *
 * @example
 * ```ts
 * observeClaims(facts).summary; // 'no required claims besides exp'
 * ```
 */
export function observeClaims({ view, issuer }: TokenFacts): Observation {
  const required = issuer?.requiredClaims ?? [];
  const missing = required.filter((claim) => view.payload?.[claim] === undefined);
  const typ = (shown(view.header, 'typ') ?? '').toLowerCase().replace(/^application\//, '');
  const typProblem = issuer?.requireAccessTokenType === true && typ !== 'at+jwt';
  const parts = [
    required.length === 0
      ? 'no required claims besides exp'
      : `required claims ${required.join(', ')}: ${missing.length === 0 ? 'present' : `missing ${missing.join(', ')}`}`,
    ...(issuer?.requireAccessTokenType === true
      ? [`typ "${typ}" (access tokens must say "at+jwt")`]
      : []),
  ];
  return {
    ok: missing.length === 0 && !typProblem,
    summary: parts.join('; '),
    details: { missing },
  };
}

/**
 * The audience the API expects against the one the token carries.
 *
 * @example
 * ```ts
 * observeAudience(facts).summary; // 'expected "api://a"; the token carries "api://b"'
 * ```
 */
export function observeAudience({ view, issuer }: TokenFacts): Observation {
  const expected = issuer?.audience ?? [];
  const carried = audiencesOf(view.payload);
  const ok = carried.some((aud) => expected.includes(aud));
  const list = (values: readonly string[]) =>
    values.length === 0 ? 'none' : values.map((value) => `"${bounded(value)}"`).join(', ');
  return {
    ok,
    summary: `expected ${expected.length > 1 ? 'one of ' : ''}${list(expected)}; the token carries ${list(carried)}`,
    details: { expected, carried },
  };
}
