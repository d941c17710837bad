import { channel, tracingChannel, type TracingChannel } from 'node:diagnostics_channel';

// The package's node:diagnostics_channel events, as undici and pg publish theirs: monitoring,
// tracing and health checks subscribe by name, and nothing is built while nobody listens.
// Every publisher checks `hasSubscribers` before it allocates its message.

/**
 * The names of the package's diagnostics channels.
 *
 * @example
 * ```ts
 * subscribe(DIAGNOSTICS_CHANNELS.decision, (event) => metrics.count(event as DecisionMessage));
 * ```
 */
export const DIAGNOSTICS_CHANNELS = Object.freeze({
  /** Every audit event (a decision, a forwarded call, an SQL query): {@link DecisionMessage}. */
  decision: 'express-identity-passthrough:decision',
  /** A tracing channel: one JWKS document fetched, {@link JwksFetchMessage}. */
  jwksFetch: 'express-identity-passthrough:jwks-fetch',
  /** A tracing channel: one LDAP operation (StartTLS, bind, search), {@link DirectoryMessage}. */
  directory: 'express-identity-passthrough:directory',
  /** One call forwarded to an upstream, when it ends: {@link ForwardMessage}. */
  forward: 'express-identity-passthrough:forward',
  /** One lookup in the verified-token cache: {@link TokenCacheMessage}. */
  tokenCache: 'express-identity-passthrough:token-cache',
});

/**
 * The message of the decision channel: the audit event itself, as handed to the audit sink
 * (the package's `AuditEvent`; these are the fields its own subscribers read). Read-only: the
 * same object is written to the audit trail.
 */
export interface DecisionMessage {
  readonly timestamp: string;
  /** The username, or null when nobody could be identified. */
  readonly user: string | null;
  /** `authenticate`, `authorize`, `sign-in`, `forward`, `query`... */
  readonly action: string;
  /** `METHOD /path` (no query string), or what else was acted on (an MCP tool). */
  readonly resource: string;
  readonly outcome: 'allowed' | 'denied' | 'error';
  /** `ok`, or the stable error code of the refusal. */
  readonly reason: string;
  /** The HTTP status of a refusal; null for an allow. */
  readonly status: number | null;
  readonly request_id: string;
  readonly provider: string | null;
  readonly kind: string | null;
  /** For forwarded calls: the upstream's name, its HTTP status and the call's duration. */
  readonly upstream: string | null;
  readonly upstream_status: number | null;
  readonly duration_ms: number | null;
  /** Facts about the decision; `carried` holds a wrong-audience token's own audience. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** How a traced operation ended, filled in before its `asyncEnd` (and `error`) event. */
interface Settled<Outcome extends string> {
  /** Milliseconds from `start` to the end; undefined until then. */
  readonly durationMs: number | undefined;
  readonly outcome: Outcome | undefined;
  /** A short, stable code for a failure (`timeout`, `unreachable`, `http_503`); null when ok. */
  readonly errorCode: string | null | undefined;
  /** Set by the tracing channel on failure: the error itself, for logs (never for clients). */
  readonly error?: unknown;
}

/**
 * The context of one JWKS fetch on the `tracing:express-identity-passthrough:jwks-fetch:*`
 * channels. At `start` only `url` is known; at `asyncEnd` (after `error` on failure) the rest is
 * filled in. `errorCode` is `timeout`, `unreachable`, `redirect`, `http_<status>`, `too_large`,
 * `invalid_document` or `error`.
 */
export interface JwksFetchMessage extends Settled<'ok' | 'error'> {
  /** The configured JWKS URL. */
  readonly url: string;
  /** How many keys the document listed. */
  readonly keys: number | undefined;
}

/** An LDAP operation, as the directory channel names it. */
export type DirectoryOperation = 'starttls' | 'bind' | 'search';

/**
 * The context of one LDAP operation on the `tracing:express-identity-passthrough:directory:*`
 * channels. `outcome` is `ok`; `refused` when the directory answered with an LDAP error (a wrong
 * password is one: the directory is reachable); or `error` when it could not be used (network,
 * TLS, timeout, busy). Never carries a DN, a password or a search filter.
 */
export interface DirectoryMessage extends Settled<'ok' | 'refused' | 'error'> {
  /** The directory's URL, as configured (`ldaps://dc1.company.com:636`). */
  readonly url: string;
  readonly operation: DirectoryOperation;
}

/** One forwarded call, published when it ends (its last audit event). */
export interface ForwardMessage {
  /** The upstream's configured name; null for a destination that was refused. */
  readonly upstream: string | null;
  readonly method: string;
  /** The host the call went to, and its port. */
  readonly serverAddress: string | null;
  readonly serverPort: number | null;
  /** The upstream's HTTP status; null when no response came. */
  readonly status: number | null;
  readonly durationMs: number;
  readonly outcome: 'allowed' | 'denied' | 'error';
  /** `ok`, `upstream_<status>`, or the code of the package's refusal. */
  readonly reason: string;
  /** The username the call was made for. */
  readonly user: string | null;
  readonly requestId: string;
  /** The call's audit event, also published on the decision channel right after. */
  readonly event: DecisionMessage;
}

/** One lookup in the verified-token cache. */
export interface TokenCacheMessage {
  readonly hit: boolean;
}

/** The decision channel; publish only behind `decisionChannel.hasSubscribers`. */
export const decisionChannel = channel(DIAGNOSTICS_CHANNELS.decision);
/** The forward channel. */
export const forwardChannel = channel(DIAGNOSTICS_CHANNELS.forward);
/** The token-cache channel. */
export const tokenCacheChannel = channel(DIAGNOSTICS_CHANNELS.tokenCache);
/** The JWKS fetch tracing channel. */
export const jwksFetchChannel: TracingChannel<unknown, JwksFetchMessage> = tracingChannel(
  DIAGNOSTICS_CHANNELS.jwksFetch,
);
/** The directory tracing channel. */
export const directoryChannel: TracingChannel<unknown, DirectoryMessage> = tracingChannel(
  DIAGNOSTICS_CHANNELS.directory,
);

/**
 * The name of one event of a tracing channel (`tracing:<name>:start`, `...:asyncEnd`), as
 * `diagnostics_channel.subscribe()` takes it.
 *
 * @example
 * ```ts
 * subscribe(tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'asyncEnd'), (message) => {});
 * ```
 */
export function tracingEventName(
  name: string,
  event: 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error',
): string {
  return `tracing:${name}:${event}`;
}

// Two shared messages: a lookup publishes one of them and allocates nothing.
const CACHE_HIT: TokenCacheMessage = Object.freeze({ hit: true });
const CACHE_MISS: TokenCacheMessage = Object.freeze({ hit: false });

/**
 * Publishes one verified-token cache lookup. Nothing is allocated, listening or not.
 *
 * @example
 * ```ts
 * const identity = cache.get(digest);
 * publishTokenCacheLookup(identity !== undefined);
 * ```
 */
export function publishTokenCacheLookup(hit: boolean): void {
  if (tokenCacheChannel.hasSubscribers) tokenCacheChannel.publish(hit ? CACHE_HIT : CACHE_MISS);
}

/**
 * Publishes the end of a forwarded call from its audit event, when anyone listens. `url` is
 * where the last request went (undefined when the URL was invalid).
 */
export function publishForward(event: DecisionMessage, method: string, url: URL | undefined): void {
  if (!forwardChannel.hasSubscribers) return;
  const message: ForwardMessage = {
    upstream: event.upstream,
    method,
    serverAddress: url === undefined ? null : url.hostname,
    serverPort: url === undefined ? null : portOf(url),
    status: event.upstream_status,
    durationMs: event.duration_ms ?? 0,
    outcome: event.outcome,
    reason: event.reason,
    user: event.user,
    requestId: event.request_id,
    event,
  };
  forwardChannel.publish(message);
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = Object.freeze({
  'https:': 443,
  'http:': 80,
  'ldaps:': 636,
  'ldap:': 389,
});

/** The port of a URL, the scheme's default when none is written. */
export function portOf(url: URL): number | null {
  return url.port === '' ? (DEFAULT_PORTS[url.protocol] ?? null) : Number(url.port);
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Runs `run` as one traced operation on `target`: `start`, then `asyncEnd` with the duration,
 * outcome and error code already filled in by `settle`. Its result is kept off the message
 * (a search result holds people's entries). Callers check `target.hasSubscribers` first.
 */
function traced<T, Message extends Settled<string>>(
  target: TracingChannel<unknown, Message>,
  message: Writable<Message>,
  run: () => Promise<T>,
  settle: (message: Writable<Message>, failure: { error: unknown } | undefined, result?: T) => void,
): Promise<T> {
  const started = performance.now();
  let value: T | undefined;
  return target
    .tracePromise(async () => {
      try {
        value = await run();
        settle(message, undefined, value);
      } catch (error) {
        settle(message, { error });
        throw error;
      } finally {
        message.durationMs = performance.now() - started;
      }
    }, message as Message)
    .then(() => value as T);
}

/**
 * Fetches a JWKS document as one traced operation on the JWKS fetch channel.
 *
 * @example
 * ```ts
 * const fetcher = (uri) =>
 *   jwksFetchChannel.hasSubscribers ? traceJwksFetch(uri, () => fetchJwks(uri)) : fetchJwks(uri);
 * ```
 */
export function traceJwksFetch<T extends { keys: readonly unknown[] }>(
  url: string,
  fetchDocument: () => Promise<T>,
): Promise<T> {
  const message: Writable<JwksFetchMessage> = {
    url,
    keys: undefined,
    durationMs: undefined,
    outcome: undefined,
    errorCode: undefined,
  };
  return traced(jwksFetchChannel, message, fetchDocument, (settled, failure, document) => {
    settled.outcome = failure === undefined ? 'ok' : 'error';
    settled.errorCode = failure === undefined ? null : fetchErrorCode(failure.error);
    settled.keys = document?.keys.length;
  });
}

/**
 * Runs one LDAP operation as a traced operation on the directory channel; `classify` tells a
 * refusal by the directory from a failure to reach it.
 */
export function traceDirectoryCall<T>(
  url: string,
  operation: DirectoryOperation,
  run: () => Promise<T>,
  classify: (error: unknown) => { outcome: 'refused' | 'error'; errorCode: string },
): Promise<T> {
  const message: Writable<DirectoryMessage> = {
    url,
    operation,
    durationMs: undefined,
    outcome: undefined,
    errorCode: undefined,
  };
  return traced(directoryChannel, message, run, (settled, failure) => {
    const verdict = failure === undefined ? undefined : classify(failure.error);
    settled.outcome = verdict?.outcome ?? 'ok';
    settled.errorCode = verdict?.errorCode ?? null;
  });
}

const UNREACHABLE =
  /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/;

/**
 * A short, stable code for a failed fetch of the package's own (a JWKS document): never the
 * library's text, which may change with its version and is not for monitoring labels.
 */
export function fetchErrorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'error';
  const { name, code, cause } = error as { name?: unknown; code?: unknown; cause?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  if (typeof code === 'string' && /^(http_\d{3}|invalid_document)$/.test(code)) return code;
  if (name === 'SyntaxError') return 'invalid_document';
  if (name === 'RangeError') return 'too_large';
  // undici's "fetch failed" carries the socket's error, or its own, as the cause.
  const causeCode = (cause as { code?: unknown } | undefined)?.code;
  if (typeof causeCode === 'string' && UNREACHABLE.test(causeCode)) return 'unreachable';
  if (typeof causeCode === 'string' && /TIMEOUT/.test(causeCode)) return 'timeout';
  const causeText = cause instanceof Error ? cause.message : '';
  if (/redirect/i.test(causeText)) return 'redirect';
  return name === 'TypeError' ? 'unreachable' : 'error';
}
