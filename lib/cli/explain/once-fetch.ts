import { readBoundedText } from '../../core/bounded-body.js';
import { MAX_JWKS_BYTES } from '../../bearer/jwks-key-source.js';

/** A document as one fetch returned it, or why it could not be fetched. */
export type FetchedDocument =
  | { readonly ok: true; readonly status: number; readonly body: string }
  | { readonly ok: false; readonly status: number | undefined; readonly problem: string };

/** A `fetch` that asks the network at most once per URL, and what each URL answered. */
export interface OnceFetch {
  /** For `createBearerAuthenticator({ fetch })`: every call after the first is a replay. */
  readonly fetch: typeof globalThis.fetch;
  /** What `url` answered, fetching it now (bounded by `timeoutMs`) if nobody has yet. */
  document(url: string, timeoutMs: number): Promise<FetchedDocument>;
}

interface Stored {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

// Statuses whose responses have no body: the Response constructor refuses one.
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * Wraps a `fetch` so that each URL reaches the network once: the authenticator under test and
 * the report beside it then see the same JWKS document, and a diagnosis costs one request to the
 * identity provider, never one per question asked about it. Bodies are read up to the JWKS size
 * limit (512 KiB), as the verifier reads them.
 *
 * @example
 * ```ts
 * const once = onceFetch(globalThis.fetch);
 * const authenticator = createBearerAuthenticator({ ...options, fetch: once.fetch });
 * const jwks = await once.document(jwksUri, 5000);
 * ```
 */
export function onceFetch(base: typeof globalThis.fetch): OnceFetch {
  const answers = new Map<string, Promise<Stored>>();
  const load = (url: string, init: RequestInit): Promise<Stored> => {
    let answer = answers.get(url);
    if (answer === undefined) {
      answer = fetchAndStore(base, url, init);
      // A failure is reported to whoever asks; it must not be an unhandled rejection meanwhile.
      answer.catch(() => undefined);
      answers.set(url, answer);
    }
    return answer;
  };
  const replay: typeof globalThis.fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const stored = await load(url, init ?? {});
    return new Response(NULL_BODY_STATUSES.has(stored.status) ? null : stored.body, {
      status: stored.status,
      headers: stored.contentType === null ? {} : { 'content-type': stored.contentType },
    });
  };
  return {
    fetch: replay,
    async document(url, timeoutMs) {
      try {
        const stored = await load(url, {
          headers: { accept: 'application/json' },
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
        });
        return stored.status >= 200 && stored.status < 300
          ? { ok: true, status: stored.status, body: stored.body }
          : { ok: false, status: stored.status, problem: `it answered HTTP ${stored.status}` };
      } catch (error) {
        return { ok: false, status: undefined, problem: fetchProblem(error, timeoutMs) };
      }
    },
  };
}

async function fetchAndStore(
  base: typeof globalThis.fetch,
  url: string,
  init: RequestInit,
): Promise<Stored> {
  const response = await base(url, init);
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: await readBoundedText(response, MAX_JWKS_BYTES),
  };
}

/**
 * Why a fetch failed, in a few words and without the library's text: the socket's error code
 * (`ECONNREFUSED`, `ENOTFOUND`, a TLS certificate code), a timeout, or the error's name.
 *
 * @example
 * ```ts
 * fetchProblem(error, 5000); // 'connection refused (ECONNREFUSED)'
 * ```
 */
export function fetchProblem(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return 'it could not be fetched';
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return `no answer within ${timeoutMs} ms`;
  }
  if (error instanceof RangeError) return `its answer is larger than ${MAX_JWKS_BYTES} bytes`;
  const code = errorCode(error.cause) ?? errorCode(error);
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): nothing listens there';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host name does not resolve (${code})`;
  if (code !== undefined) return `it could not be fetched (${code})`;
  return /redirect/i.test(error.message)
    ? 'it answered with a redirect; configure the final URL'
    : `it could not be fetched (${error.name})`;
}

function errorCode(value: unknown): string | undefined {
  const code = (value as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
