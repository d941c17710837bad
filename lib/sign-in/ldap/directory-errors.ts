import {
  BusyError,
  ConfidentialityRequiredError,
  InvalidCredentialsError,
  StrongAuthRequiredError,
  UnavailableError,
} from 'ldapts';
import { types } from 'node:util';
import { IdentityError } from '../../core/errors.js';

/**
 * Active Directory's reasons for a refused bind: the `data XXX` sub-code in the diagnostic text
 * of an invalidCredentials (49) result. They are recorded in the audit event and never shown
 * to the client, who gets the same 401 for each (no account enumeration).
 */
export const AD_BIND_SUBCODES: Readonly<Record<string, string>> = Object.freeze({
  '525': 'user_not_found',
  '52e': 'invalid_credentials',
  '530': 'logon_time_restricted',
  '531': 'workstation_restricted',
  '532': 'password_expired',
  '533': 'account_disabled',
  '568': 'too_many_security_ids',
  '701': 'account_expired',
  '773': 'password_must_change',
  '775': 'account_locked',
});

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/** The one refusal every failed sign-in gets, whatever the reason (kept for the audit event). */
export function signInRefused(reason: string, cause?: unknown): IdentityError {
  return new IdentityError(
    'invalid_credentials',
    'The username or password is incorrect, or the account cannot sign in. Check them and retry, or contact your administrator.',
    { ...(cause === undefined ? {} : { cause: redact(cause) }), details: { reason } },
  );
}

/** The reason in a refused user bind: AD's sub-code when there is one. */
export function bindFailureReason(error: InvalidCredentialsError): string {
  const match = /\bdata ([0-9a-f]{3,4})\b/i.exec(error.message);
  const code = match?.[1]?.toLowerCase();
  return (code === undefined ? undefined : AD_BIND_SUBCODES[code]) ?? 'invalid_credentials';
}

/** Whether a bind failed because of the credentials (as opposed to the directory or network). */
export function isCredentialFailure(error: unknown): error is InvalidCredentialsError {
  return error instanceof InvalidCredentialsError;
}

/**
 * A failure of the directory, the network or the configuration: a 503, never a 401, because the
 * user did nothing wrong and a retry may succeed. The client sees a generic message; the audit
 * event and logs get the step and the cause.
 */
export function directoryUnavailable(step: string, cause: unknown): IdentityError {
  return new IdentityError(
    'identity_provider_unavailable',
    `The directory could not be used (${step}: ${describe(cause)}). Retry shortly; if it persists, check the LDAP settings and the directory's health.`,
    { cause: redact(cause), details: { step, directory_error: describe(cause) } },
  );
}

/** A short, secret-free description of an LDAP or socket error, for audit details. */
export function describe(error: unknown): string {
  if (error instanceof ConfidentialityRequiredError || error instanceof StrongAuthRequiredError) {
    return 'the directory requires a protected connection (use tls: "ldaps" or "starttls")';
  }
  if (error instanceof UnavailableError || error instanceof BusyError) return 'directory busy';
  if (isError(error)) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) return code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code)) {
      return `TLS certificate rejected (${code})`;
    }
    if (/timeout/i.test(error.message)) return 'timed out';
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}`;
  }
  return 'unknown error';
}

/**
 * How a failed LDAP operation reads on the directory channel: `refused` when the directory
 * answered with an LDAP result (a wrong password, a size limit: it is reachable), `error` when it
 * could not be used. The code is stable and free of the server's text, which can echo the DN.
 */
export function directoryErrorCode(error: unknown): {
  outcome: 'refused' | 'error';
  errorCode: string;
} {
  if (!isError(error)) return { outcome: 'error', errorCode: 'error' };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') {
    // ldapts's result-code errors: busy (51) and unavailable (52) say the server cannot serve.
    const name = snakeCase(error.name.replace(/Error$/, ''));
    return { outcome: code === 51 || code === 52 ? 'error' : 'refused', errorCode: name };
  }
  if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) {
    return { outcome: 'error', errorCode: code === 'ETIMEDOUT' ? 'timeout' : 'unreachable' };
  }
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code)) {
    return { outcome: 'error', errorCode: 'tls_rejected' };
  }
  if (/timeout|timed out/i.test(error.message)) return { outcome: 'error', errorCode: 'timeout' };
  return { outcome: 'error', errorCode: 'error' };
}

function snakeCase(name: string): string {
  return (
    name
      .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toLowerCase() || 'error'
  );
}

// Directory diagnostics can echo the bind DN or filter values back; the cause kept on the error
// (and reaching logs) carries the class and code only, never the server's text.
function redact(cause: unknown): Error {
  const error = new Error(describe(cause));
  error.name = isError(cause) ? cause.name : 'Error';
  return error;
}

// Socket and TLS errors come from Node's own realm; `instanceof Error` fails for them where code
// runs in another realm (a vm context, a test runner), so the check is structural.
function isError(value: unknown): value is Error {
  return types.isNativeError(value) || value instanceof Error;
}
