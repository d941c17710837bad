/** `ok`: as it should be; `warn`: works, but needs attention; `fail`: will not work. */
export type DoctorStatus = 'ok' | 'warn' | 'fail';

/** One line of the doctor's report: a check of one setting against the system it names. */
export interface DoctorCheck {
  /** `<entry>.<check>`: `bearer.jwks`, `ldap.bind`, `saml.certificate`... */
  readonly id: string;
  readonly status: DoctorStatus;
  /** What was found, naming the URL, host or file; never a password, key or token. */
  readonly what: string;
  /** What to change, on `warn` and `fail`. */
  readonly fix?: string;
}

/**
 * A check that holds.
 *
 * @example
 * ```ts
 * ok('audit.file', '/var/log/audit.log can be appended to');
 * ```
 */
export function ok(id: string, what: string): DoctorCheck {
  return { id, status: 'ok', what };
}

/**
 * A check that holds for now, with what needs attention.
 *
 * @example
 * ```ts
 * warn('saml.certificate', 'expires in 12 days', 'Ask the IdP for its next certificate.');
 * ```
 */
export function warn(id: string, what: string, fix: string): DoctorCheck {
  return { id, status: 'warn', what, fix };
}

/**
 * A check that fails, with the fix.
 *
 * @example
 * ```ts
 * fail('redis.ping', 'connection refused', 'Start Redis, or correct the URL.');
 * ```
 */
export function fail(id: string, what: string, fix: string): DoctorCheck {
  return { id, status: 'fail', what, fix };
}

/** Default: 5000 (5 seconds) for each check that talks to a server. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

/**
 * A check that took longer than its time limit.
 *
 * @example
 * ```ts
 * problemOf(new CheckTimeout('no answer within 5000 ms')); // 'no answer within 5000 ms'
 * ```
 */
export class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
}

/**
 * Runs `work` with a time limit: past `timeoutMs`, the result is a {@link CheckTimeout} and the
 * signal given to `work` is aborted, so one server that hangs cannot hold up a deployment
 * pipeline for longer than that.
 *
 * @example
 * ```ts
 * const document = await withinTimeout(5000, (signal) => fetch(url, { signal }));
 * ```
 */
export async function withinTimeout<T>(
  timeoutMs: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new CheckTimeout(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const running = work(controller.signal);
  // Work abandoned at the deadline fails later, as its connection closes; nobody waits for it.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A socket or client error in a few words, free of server text: the error code
 * (`ECONNREFUSED`, a TLS certificate code), a timeout, or the error's name.
 *
 * @example
 * ```ts
 * problemOf(error); // 'connection refused (ECONNREFUSED)'
 * ```
 */
export function problemOf(error: unknown): string {
  if (error instanceof CheckTimeout) return error.message;
  const code = codeOf(error) ?? codeOf((error as { cause?: unknown } | undefined)?.cause);
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): nothing listens there';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host name does not resolve (${code})`;
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code)) {
    return `TLS certificate rejected (${code})`;
  }
  if (code !== undefined) return code;
  if (error instanceof Error) {
    return error.name === 'TimeoutError' || error.name === 'AbortError' ? 'timed out' : error.name;
  }
  return 'unknown error';
}

function codeOf(value: unknown): string | undefined {
  const code = (value as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
