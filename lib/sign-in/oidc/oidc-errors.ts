import { types } from 'node:util';
import { IdentityError } from '../../core/errors.js';
import { oidcFailure } from './oidc-failure-reason.js';

/**
 * Whether an openid-client failure is the IdP being unreachable (a 503), rather than a refusal.
 * openid-client wraps fetch failures in its own errors, and under some runtimes the original
 * `TypeError` is only found further down the cause chain, so the whole chain is examined.
 */
export function isIdpUnreachable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current != null && depth < 6; depth++) {
    if (typeof current !== 'object') return false;
    const { code, name, message } = current as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
    };
    if (code === 'OAUTH_TIMEOUT' || name === 'TimeoutError' || name === 'AbortError') return true;
    if (
      typeof code === 'string' &&
      /^(ECONN|ENOTFOUND|EAI_|ETIMEDOUT|EHOSTUNREACH|UND_ERR)/.test(code)
    ) {
      return true;
    }
    if (typeof message === 'string' && message === 'fetch failed') return true;
    // An HTTP 5xx from the IdP's token endpoint is the IdP's problem too.
    const status = (current as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 500) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The IdP could not be reached: 503, never the user's fault. */
export function idpUnavailable(step: string, cause: unknown): IdentityError {
  return new IdentityError(
    'identity_provider_unavailable',
    `The identity provider could not be reached (${step}); retry shortly.`,
    { cause: safeCause(cause), details: { step } },
  );
}

/**
 * The sign-in at the IdP did not complete: bad state, nonce, issuer, code, or a refusal. The
 * client gets one safe message; `reason` (a stable snake_case string) goes to the audit event.
 */
export function signInFailed(reason: string, cause?: unknown, oauthError?: string): IdentityError {
  return new IdentityError(
    'sign_in_failed',
    'The sign-in with the identity provider did not complete. Start it again from this application.',
    {
      ...(cause === undefined ? {} : { cause: safeCause(cause) }),
      details: { reason, ...(oauthError === undefined ? {} : { oauth_error: oauthError }) },
    },
  );
}

/** An openid-client failure at the callback, with its precise reason for the audit event. */
export function signInRefused(error: unknown): IdentityError {
  const { reason, oauthError } = oidcFailure(error);
  return signInFailed(reason, error, oauthError);
}

/** openid-client's error code and message only: responses may echo tokens or codes. */
function safeCause(cause: unknown): Error {
  if (!types.isNativeError(cause) && !(cause instanceof Error)) return new Error('unknown error');
  const code = (cause as { code?: unknown }).code;
  const error = new Error(
    `${typeof code === 'string' ? `${code}: ` : ''}${cause.message}`.slice(0, 200),
  );
  error.name = cause.name;
  return error;
}
