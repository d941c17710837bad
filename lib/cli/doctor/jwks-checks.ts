import { createPublicKey, type JsonWebKey } from 'node:crypto';
import {
  algorithmsForKey,
  algorithmsToUse,
  keyWeakness,
  type JwsAlgorithm,
} from '../../bearer/algorithms.js';
import { MAX_JWKS_BYTES } from '../../bearer/jwks-key-source.js';
import { readBoundedText } from '../../core/bounded-body.js';
import { describeKey, parseJwks } from '../explain/key-report.js';
import { bounded } from '../explain/token-view.js';
import { fail, ok, problemOf, warn, withinTimeout, type DoctorCheck } from './doctor-check.js';

// Members that only a private (or symmetric) key has: a JWKS that carries them gives the
// signing key away, and anyone can then mint tokens this API accepts.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** What is checked of one JWKS endpoint. */
export interface JwksCheckInput {
  /** The report's prefix: `bearer`, `oidc`. */
  readonly entry: string;
  readonly uri: string;
  /** The configured algorithms, if narrowed. */
  readonly algorithms: readonly JwsAlgorithm[] | undefined;
  /** How the operator names the algorithms setting (`IDENTITY_ALGORITHMS`, `option "algorithms"`). */
  readonly algorithmsSetting: string;
  readonly timeoutMs: number;
  readonly fetch: typeof globalThis.fetch;
}

/**
 * Fetches a JWKS as the verifier does (no redirects, at most 512 KiB, within the time limit)
 * and checks its keys: each readable, strong enough (RSA of 2048 bits or more, a supported EC
 * curve), with no private part published, and verifying an algorithm the configuration allows.
 * Two lines: `<entry>.jwks` (reachable) and `<entry>.keys` (usable).
 *
 * @example
 * ```ts
 * const lines = await checkJwks({ entry: 'bearer', uri, algorithms: undefined,
 *   algorithmsSetting: 'IDENTITY_ALGORITHMS', timeoutMs: 5000, fetch });
 * ```
 */
export async function checkJwks(input: JwksCheckInput): Promise<DoctorCheck[]> {
  const id = `${input.entry}.jwks`;
  let text: string;
  try {
    text = await withinTimeout(input.timeoutMs, async (signal) => {
      const response = await input.fetch(input.uri, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal,
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw Object.assign(new Error('status'), { code: `HTTP ${response.status}` });
      }
      return readBoundedText(response, MAX_JWKS_BYTES);
    });
  } catch (error) {
    return [
      fail(
        id,
        `${input.uri} cannot be read: ${problemOf(error)}`,
        "Check the URL from this machine (curl), and proxies, firewalls and TLS on the way; take it from the issuer's discovery document (jwks_uri).",
      ),
    ];
  }
  const keys = parseJwks(text);
  if (keys === undefined) {
    return [
      fail(
        id,
        `${input.uri} answers, but not with a JSON Web Key Set`,
        'Configure the JWKS URL itself (jwks_uri), not the issuer or a web page.',
      ),
    ];
  }
  return [ok(id, `${input.uri} answers with ${keys.length} key(s)`), checkKeys(input, keys)];
}

/** What one published key is good for, and what is wrong with it. */
interface KeyAssessment {
  readonly label: string;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  readonly algorithms: readonly JwsAlgorithm[];
}

function checkKeys(input: JwksCheckInput, keys: readonly JsonWebKey[]): DoctorCheck {
  const id = `${input.entry}.keys`;
  const signing = keys.filter((jwk) => jwk['use'] === undefined || jwk['use'] === 'sig');
  const assessed = signing.map((jwk) => assessKey(jwk, input));
  const problems = assessed.flatMap((key) => key.problems.map((p) => `${key.label}: ${p}`));
  const warnings = assessed.flatMap((key) => key.warnings.map((w) => `${key.label}: ${w}`));
  const usable = assessed.filter((key) => key.problems.length === 0 && key.algorithms.length > 0);
  const summary = usable.map((key) => `${key.label} (${key.algorithms.join(', ')})`).join(', ');
  if (problems.length > 0 || usable.length === 0) {
    return fail(
      id,
      [...problems, ...(usable.length === 0 ? [...warnings, 'no key can verify tokens'] : [])].join(
        '; ',
      ),
      `Publish public signing keys only, RSA of 2048 bits or more or EC P-256/P-384/P-521, and check ${input.algorithmsSetting}.`,
    );
  }
  if (warnings.length > 0) {
    return warn(
      id,
      `usable: ${summary}; ${warnings.join('; ')}`,
      `Align ${input.algorithmsSetting} with the algorithms the keys name.`,
    );
  }
  return ok(id, `usable: ${summary}`);
}

function assessKey(jwk: JsonWebKey, input: JwksCheckInput): KeyAssessment {
  const kid =
    typeof jwk['kid'] === 'string' ? `kid "${bounded(jwk['kid'], 64)}"` : 'a key without kid';
  const leaked = PRIVATE_MEMBERS.filter((name) => jwk[name] !== undefined);
  if (leaked.length > 0 || jwk.kty === 'oct') {
    return {
      label: kid,
      problems: [
        `publishes private key material (${leaked.join(', ')}): anyone can sign tokens with it; replace the key`,
      ],
      warnings: [],
      algorithms: [],
    };
  }
  let key;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return {
      label: kid,
      problems: ['cannot be read as a public key'],
      warnings: [],
      algorithms: [],
    };
  }
  const label = `${kid} ${describeKey(key)}`;
  const weakness = keyWeakness(key);
  if (weakness !== undefined) return { label, problems: [weakness], warnings: [], algorithms: [] };
  const named = typeof jwk['alg'] === 'string' ? jwk['alg'] : undefined;
  const algorithms = algorithmsToUse(key, named, input.algorithms);
  const warnings: string[] = [];
  if (algorithms.length === 0) {
    const capable = algorithmsForKey(key);
    warnings.push(
      named !== undefined && !(capable as readonly string[]).includes(named)
        ? `names alg ${named}, which it cannot verify`
        : `verifies ${named ?? capable.join(', ')}, which ${input.algorithmsSetting} does not allow: its tokens will be refused`,
    );
  }
  return { label, problems: [], warnings, algorithms };
}
