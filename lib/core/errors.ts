/**
 * Every way a request can be refused, with the HTTP status and the RFC 6750 error it maps to.
 * The code is the stable contract (clients and audit queries switch on it); messages may improve.
 */
const ERROR_TABLE = {
  // 400: the request itself is malformed; RFC 6750 §3.1 "invalid_request".
  invalid_request: { status: 400, bearerError: 'invalid_request' },
  request_too_large: { status: 413, bearerError: undefined },
  unsupported_media_type: { status: 415, bearerError: undefined },
  multiple_credentials: { status: 400, bearerError: 'invalid_request' },
  token_in_url: { status: 400, bearerError: 'invalid_request' },
  token_in_body: { status: 400, bearerError: 'invalid_request' },
  // 401 without an error attribute: no credential was offered (RFC 6750 §3.1, last paragraph).
  credentials_missing: { status: 401, bearerError: undefined },
  unsupported_auth_scheme: { status: 401, bearerError: undefined },
  // 401 "invalid_token": a credential was offered and it is not acceptable.
  token_malformed: { status: 401, bearerError: 'invalid_token' },
  token_too_large: { status: 401, bearerError: 'invalid_token' },
  token_encrypted: { status: 401, bearerError: 'invalid_token' },
  token_header_forbidden: { status: 401, bearerError: 'invalid_token' },
  token_algorithm_refused: { status: 401, bearerError: 'invalid_token' },
  token_type_invalid: { status: 401, bearerError: 'invalid_token' },
  token_signature_invalid: { status: 401, bearerError: 'invalid_token' },
  token_key_unknown: { status: 401, bearerError: 'invalid_token' },
  token_issuer_unknown: { status: 401, bearerError: 'invalid_token' },
  token_audience_invalid: { status: 401, bearerError: 'invalid_token' },
  token_expired: { status: 401, bearerError: 'invalid_token' },
  token_not_yet_valid: { status: 401, bearerError: 'invalid_token' },
  token_too_old: { status: 401, bearerError: 'invalid_token' },
  token_lifetime_excessive: { status: 401, bearerError: 'invalid_token' },
  token_claim_missing: { status: 401, bearerError: 'invalid_token' },
  token_claim_invalid: { status: 401, bearerError: 'invalid_token' },
  token_revoked: { status: 401, bearerError: 'invalid_token' },
  refresh_token_invalid: { status: 401, bearerError: 'invalid_token' },
  // 401 at sign-in: one code for a wrong password, an unknown user and a disabled or locked
  // account, so the response cannot be used to enumerate accounts (the audit event has why).
  invalid_credentials: { status: 401, bearerError: undefined },
  // 401 at the SAML ACS: the response failed a check; the audit event's reason says which.
  saml_response_invalid: { status: 401, bearerError: undefined },
  // 401 for browser sessions: the sign-in at the IdP failed, or its tokens can no longer be
  // refreshed; the person must sign in again.
  sign_in_failed: { status: 401, bearerError: undefined },
  session_expired: { status: 401, bearerError: 'invalid_token' },
  // 429: too many failed sign-ins for one account or client, before the directory locks it.
  too_many_attempts: { status: 429, bearerError: undefined },
  // 403: the caller is known and not allowed here.
  insufficient_scope: { status: 403, bearerError: 'insufficient_scope' },
  service_account_refused: { status: 403, bearerError: undefined },
  api_key_refused: { status: 403, bearerError: undefined },
  role_missing: { status: 403, bearerError: undefined },
  group_missing: { status: 403, bearerError: undefined },
  groups_unresolved: { status: 403, bearerError: undefined },
  access_denied: { status: 403, bearerError: undefined },
  // A cookie-authenticated unsafe request from another origin: cross-site request forgery.
  csrf_refused: { status: 403, bearerError: undefined },
  // An MCP session belongs to the user who opened it; an unknown one must be opened again.
  mcp_session_forbidden: { status: 403, bearerError: undefined },
  mcp_session_unknown: { status: 404, bearerError: undefined },
  // Outbound: the agent asked to send the user's credential where it must not go.
  upstream_not_allowed: { status: 403, bearerError: undefined },
  upstream_audience_mismatch: { status: 403, bearerError: undefined },
  upstream_refused: { status: 403, bearerError: undefined },
  // The IdP would not exchange the user's token for one for this upstream.
  token_exchange_refused: { status: 403, bearerError: undefined },
  // SQL an agent sent: not valid SQL (400), refused before it ran (403), or refused by the
  // database itself (its permissions, a constraint: 422).
  sql_invalid: { status: 400, bearerError: undefined },
  sql_refused: { status: 403, bearerError: undefined },
  sql_failed: { status: 422, bearerError: undefined },
  // 5xx: our side or the identity provider's, never the user's fault, so never a 401.
  authentication_not_configured: { status: 500, bearerError: undefined },
  internal_error: { status: 500, bearerError: undefined },
  identity_provider_unavailable: { status: 503, bearerError: undefined },
  audit_unavailable: { status: 503, bearerError: undefined },
  session_store_unavailable: { status: 503, bearerError: undefined },
  database_unavailable: { status: 503, bearerError: undefined },
  upstream_unavailable: { status: 502, bearerError: undefined },
  upstream_error: { status: 502, bearerError: undefined },
  upstream_response_too_large: { status: 502, bearerError: undefined },
  upstream_timeout: { status: 504, bearerError: undefined },
} as const satisfies Record<string, { status: number; bearerError: string | undefined }>;

/** The stable, machine-readable reason a request was refused. */
export type IdentityErrorCode = keyof typeof ERROR_TABLE;

/** Every {@link IdentityErrorCode}, for documentation and exhaustive tests. */
export const IDENTITY_ERROR_CODES = Object.freeze(Object.keys(ERROR_TABLE) as IdentityErrorCode[]);

type ServerErrorCode = {
  [K in IdentityErrorCode]: `${(typeof ERROR_TABLE)[K]['status']}` extends `5${string}` ? K : never;
}[IdentityErrorCode];

// What a client is told instead of a 5xx error's own message (which may name internals): one
// text per code, so that an audit or session-store outage is not reported as the identity
// provider's, and each says what to do. A new 5xx code does not compile without its text.
const CLIENT_MESSAGES: Readonly<Record<ServerErrorCode, string>> = {
  authentication_not_configured:
    'Authentication is not configured correctly on this server; the operator must fix its settings (the server log names the option).',
  internal_error:
    'The server failed unexpectedly while handling this request; retry, and give the operator the request id if it persists.',
  identity_provider_unavailable: 'The identity provider is unavailable; retry shortly.',
  audit_unavailable:
    "The audit trail cannot be written, and this service does not act without it; retry shortly, or ask the operator to check the audit log's destination (disk space, log shipper).",
  session_store_unavailable:
    'The session store (sign-outs, sign-in state, the sign-in throttle) is unavailable, so this request cannot be decided safely; retry shortly, or ask the operator to check the session store.',
  database_unavailable:
    'The database could not be reached; retry shortly, or ask the operator to check the database.',
  upstream_unavailable: 'The data API could not be reached; retry shortly.',
  upstream_error:
    "The data API failed to answer this request; retry, or give the operator the request id (the audit log has the data API's answer).",
  upstream_response_too_large:
    "The data API's response is larger than this service accepts; ask for fewer records (a smaller limit or a narrower filter).",
  upstream_timeout: 'The data API did not answer in time; retry, or ask for less data.',
};

/**
 * The message a client may see for `error`: its own when `expose` is set, otherwise the fixed
 * text of its code (what failed and what to do, never a library's words).
 */
export function clientMessage(error: IdentityError): string {
  if (error.expose) return error.message;
  return (
    (CLIENT_MESSAGES as Readonly<Record<string, string | undefined>>)[error.code] ??
    'Request refused.'
  );
}

/** What an {@link IdentityError} carries besides its code and message. */
export interface IdentityErrorOptions {
  /** The underlying error, kept for logs and audit events; never sent to the client. */
  cause?: unknown;
  /** Facts for the audit event (the rule that fired, the roles required); never secrets. */
  details?: Readonly<Record<string, unknown>>;
  /** For `insufficient_scope`: the scopes the route needs (RFC 6750 §3 `scope` attribute). */
  requiredScopes?: readonly string[];
  /** For `too_many_attempts`: seconds until a retry may succeed (the `Retry-After` header). */
  retryAfterSec?: number;
}

/**
 * The one error class of this package. Every refusal carries a stable `code`, the HTTP
 * `status`, and a `message` written for the person who has to fix it.
 *
 * Messages never contain a token, a password or a library's internal text; 5xx errors are
 * marked `expose: false` so that the error handler shows a generic message instead.
 */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  readonly code: IdentityErrorCode;
  readonly status: number;
  /** Whether `message` may be shown to the client as it is. */
  readonly expose: boolean;
  readonly details: Readonly<Record<string, unknown>>;
  readonly requiredScopes: readonly string[];
  readonly retryAfterSec: number | undefined;

  constructor(code: IdentityErrorCode, message: string, options: IdentityErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.expose = this.status < 500;
    this.details = Object.freeze({ ...options.details });
    this.requiredScopes = Object.freeze([...(options.requiredScopes ?? [])]);
    this.retryAfterSec = options.retryAfterSec;
  }

  /** The RFC 6750 error attribute, or undefined where the RFC says to send none. */
  get bearerError(): string | undefined {
    return ERROR_TABLE[this.code].bearerError;
  }

  /**
   * The `WWW-Authenticate` challenge for this error (RFC 6750 §3), or undefined when the
   * status is not one that carries a Bearer challenge.
   */
  wwwAuthenticate(realm?: string): string | undefined {
    if (this.status !== 401 && this.code !== 'insufficient_scope' && this.status !== 400) {
      return undefined;
    }
    const params: string[] = [];
    if (realm !== undefined) params.push(`realm="${quotable(realm)}"`);
    const bearerError = this.bearerError;
    if (bearerError !== undefined) {
      params.push(`error="${bearerError}"`, `error_description="${quotable(this.message)}"`);
    }
    if (this.requiredScopes.length > 0) {
      params.push(`scope="${quotable(this.requiredScopes.join(' '))}"`);
    }
    return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
  }

  /**
   * Headers for Express's default error handler, which copies `err.headers` onto the response:
   * an app that forgot `identityErrorHandler()` still sends a correct challenge.
   */
  get headers(): Record<string, string> {
    const challenge = this.wwwAuthenticate();
    return {
      'Cache-Control': 'no-store',
      ...(challenge === undefined ? {} : { 'WWW-Authenticate': challenge }),
      ...(this.retryAfterSec === undefined
        ? {}
        : { 'Retry-After': String(Math.max(1, Math.ceil(this.retryAfterSec))) }),
    };
  }
}

/**
 * The package's error for anything thrown: itself when it is one, otherwise a 500
 * `internal_error` with `message` and the original kept as its cause (for the logs only).
 */
export function asIdentityError(error: unknown, message: string): IdentityError {
  return isIdentityError(error)
    ? error
    : new IdentityError('internal_error', message, { cause: error });
}

/** Whether a value is one of this package's errors (across duplicate installs too). */
export function isIdentityError(value: unknown): value is IdentityError {
  return (
    value instanceof IdentityError ||
    (value instanceof Error &&
      value.name === 'IdentityError' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      Object.hasOwn(ERROR_TABLE, (value as unknown as { code: string }).code))
  );
}

// RFC 6750 §3: error_description and scope allow %x20-21 / %x23-5B / %x5D-7E only, so
// quotes, backslashes, control and non-ASCII characters are replaced rather than escaped.
function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "'").slice(0, 300);
}
