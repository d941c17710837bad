import { clientMessage, isIdentityError, type IdentityError } from './errors.js';

/** What a refusal looks like on the wire, for any HTTP server. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** `{ code, message, request_id }`, as JSON text. */
  readonly body: string;
}

/**
 * The response for one of this package's refusals: the status, an RFC 6750 `WWW-Authenticate`
 * challenge, `Retry-After` when there is one, `Cache-Control: no-store` (a refusal must not be
 * cached by any intermediary, RFC 6750 §5.3), and a JSON body whose message is safe to show
 * (a 5xx error is told in its code's own words, never a library's).
 *
 * @example
 * ```ts
 * const { status, headers, body } = errorResponse(error, { requestId });
 * res.writeHead(status, headers).end(body);
 * ```
 */
export function errorResponse(
  error: IdentityError,
  context: { readonly requestId?: string | undefined; readonly realm?: string | undefined } = {},
): ErrorResponse {
  // Other errors carry text this package never shows a client: they are the caller's to render.
  if (!isIdentityError(error)) {
    throw new TypeError('errorResponse: "error" must be an IdentityError (see isIdentityError)');
  }
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
  };
  const challenge = error.wwwAuthenticate(context.realm);
  if (challenge !== undefined) headers['WWW-Authenticate'] = challenge;
  const retryAfter = error.headers['Retry-After'];
  if (retryAfter !== undefined) headers['Retry-After'] = retryAfter;
  const body = JSON.stringify({
    code: error.code,
    message: clientMessage(error),
    request_id: context.requestId ?? null,
  });
  return { status: error.status, headers, body };
}
