import { escapeUnsafeText } from '../../audit/audit-event.js';
import { hash } from 'node:crypto';
import type { Claims } from '../../core/claims.js';

/** What can be read from a token without trusting it: for display, never for a decision. */
export interface TokenView {
  /** `sha256:` and the first 22 base64url characters of its SHA-256: the audit trail's form. */
  readonly fingerprint: string;
  readonly bytes: number;
  readonly segments: number;
  /** The decoded header, when the first segment is base64url JSON. */
  readonly header: Claims | undefined;
  /** The decoded payload, when the second segment is base64url JSON. */
  readonly payload: Claims | undefined;
}

/**
 * Decodes a compact JWT's header and payload for the report. Nothing here decides anything: the
 * verdict comes from the authenticator, which decodes and verifies the token itself. The token
 * and its signature are not kept; the fingerprint is the one audit events record for a token
 * without `jti`, so the report can be matched with the event of a refused request.
 *
 * @example
 * ```ts
 * const view = viewToken(token);
 * view.payload?.['iss']; // the issuer the token names
 * ```
 */
export function viewToken(token: string): TokenView {
  const parts = token.split('.');
  return {
    fingerprint: tokenFingerprint(token),
    bytes: Buffer.byteLength(token, 'utf8'),
    segments: parts.length,
    header: parts.length === 3 ? decodeSegment(parts[0] ?? '') : undefined,
    payload: parts.length === 3 ? decodeSegment(parts[1] ?? '') : undefined,
  };
}

/**
 * The short, non-reversible reference to a token that audit events carry (`token_fingerprint`
 * of a token without `jti`).
 *
 * @example
 * ```ts
 * tokenFingerprint(token); // 'sha256:Xw3c...'
 * ```
 */
export function tokenFingerprint(token: string): string {
  return `sha256:${hash('sha256', token, 'base64url').slice(0, 22)}`;
}

function decodeSegment(segment: string): Claims | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Claims)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A claim's string value for the report, bounded: it comes from an unverified token and may be
 * anything. Undefined when the claim is not a string.
 *
 * @example
 * ```ts
 * shown(view.payload, 'iss'); // 'https://login.example.com/'
 * ```
 */
export function shown(claims: Claims | undefined, name: string): string | undefined {
  const value = claims?.[name];
  return typeof value === 'string' ? bounded(value) : undefined;
}

/**
 * Text from a token or a server, cut to `max` characters with control characters escaped, so a
 * crafted claim can neither flood the terminal nor repaint it.
 *
 * @example
 * ```ts
 * bounded('a\u001b[2Jb'); // 'a\\u001b[2Jb'
 * ```
 */
export function bounded(value: string, max = 200): string {
  // Cut on a code point, so that a pair of surrogates is never split into two halves.
  const points = Array.from(value);
  const cut = points.length > max ? `${points.slice(0, max).join('')}…` : value;
  return escapeUnsafeText(cut);
}

/**
 * The token's audiences as strings (a string or an array of them), bounded.
 *
 * @example
 * ```ts
 * audiencesOf({ aud: ['api://a', 'api://b'] }); // ['api://a', 'api://b']
 * ```
 */
export function audiencesOf(claims: Claims | undefined): string[] {
  const aud = claims?.['aud'];
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  return values
    .filter((value): value is string => typeof value === 'string')
    .slice(0, 10)
    .map((value) => bounded(value));
}
