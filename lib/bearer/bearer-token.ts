import { IdentityError } from '../core/errors.js';

/** Where a request could carry a credential, as plain values (no framework types). */
export interface CredentialCarriers {
  /** Every `Authorization` header value, in order (duplicates included). */
  readonly authorization: readonly string[];
  /** The request target (path and query). */
  readonly url: string;
  /** The parsed body, when a body parser ran. */
  readonly body?: unknown;
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const API_KEY_SCHEMES = new Set(['apikey', 'api-key', 'x-api-key', 'key']);
const KNOWN_SCHEMES = new Set([
  'bearer',
  'basic',
  'digest',
  'negotiate',
  'ntlm',
  ...API_KEY_SCHEMES,
]);

/**
 * Finds the bearer token of a request, or undefined when it offers none. Only the
 * `Authorization` header is read: a token in the URL ends up in proxy and access logs
 * (RFC 6750 §5.3), so it is refused rather than ignored, and so is a second credential.
 */
export function extractBearerToken(carriers: CredentialCarriers): string | undefined {
  if (hasQueryToken(carriers.url)) {
    throw new IdentityError(
      'token_in_url',
      'Access tokens are not accepted in the URL, where logs and browser history keep them. Send the token in the "Authorization: Bearer" header.',
    );
  }
  if (hasBodyToken(carriers.body)) {
    throw new IdentityError(
      'token_in_body',
      'Access tokens are not accepted in the request body. Send the token in the "Authorization: Bearer" header.',
    );
  }
  if (carriers.authorization.length > 1) {
    throw new IdentityError(
      'multiple_credentials',
      'The request carries more than one Authorization header; send exactly one bearer token.',
    );
  }
  const header = carriers.authorization[0];
  if (header === undefined || header.trim() === '') return undefined;
  const match = BEARER.exec(header.trim());
  if (match?.[1] !== undefined) return match[1];
  // Only a word followed by a space is a scheme: a bare value may be the credential itself
  // (`Authorization: sk_live_...`), which must not reach the audit trail as a "scheme".
  const word = /^([A-Za-z][A-Za-z0-9-]{0,19})(\s|$)/.exec(header.trim());
  const candidate = word?.[1]?.toLowerCase();
  const scheme = word?.[2] !== '' || KNOWN_SCHEMES.has(candidate ?? '') ? candidate : undefined;
  if (scheme !== undefined && API_KEY_SCHEMES.has(scheme)) throw apiKeyRefused();
  if (scheme === 'bearer') {
    throw new IdentityError(
      'invalid_request',
      'The Authorization header is malformed: expected "Bearer <token>" with a single token.',
    );
  }
  throw new IdentityError(
    'unsupported_auth_scheme',
    'Only "Authorization: Bearer <token>" is accepted here; sign in to get the user\'s access token.',
    { details: { scheme: scheme ?? null } },
  );
}

/** The refusal for an API key offered where a user's credential is needed. */
export function apiKeyRefused(header?: string): IdentityError {
  return new IdentityError(
    'api_key_refused',
    "An API key identifies an application, not a person. This route acts on behalf of a user: send the signed-in user's bearer token.",
    { details: { rule: 'api-key-header', ...(header === undefined ? {} : { header }) } },
  );
}

function hasQueryToken(url: string): boolean {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return false;
  return new URLSearchParams(url.slice(queryStart + 1)).has('access_token');
}

function hasBodyToken(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'access_token');
}
