import { IdentityError, isIdentityError } from '../core/errors.js';
import { readBoundedText } from '../core/bounded-body.js';
import type { Passthrough, PassthroughFetch } from './passthrough.js';

/** The query parameters of a DreamFactory `_table` read. */
export interface DreamFactoryQuery {
  /** DreamFactory filter syntax, e.g. `(status = 'open') and (amount > 100)`. */
  filter?: string;
  fields?: readonly string[];
  limit?: number;
  offset?: number;
  order?: string;
}

/** Reads DreamFactory tables as the current user, through the passthrough. */
export interface DreamFactoryClient {
  /** Reads `GET {baseUrl}/api/v2/{service}/_table/{table}` as the current user: its records. */
  getRecords(
    service: string,
    table: string,
    query?: DreamFactoryQuery,
  ): Promise<Record<string, unknown>[]>;
}

// Dots are allowed inside names, but '.' and '..' would walk the URL path elsewhere.
const NAME = /^(?!\.+$)[A-Za-z0-9_.-]{1,128}$/;
/** An error body is read this far, so the passthrough's audit event records its start. */
const MAX_ERROR_BODY_BYTES = 4_096;

/**
 * A DreamFactory helper on top of the passthrough client: `/api/v2/{service}/_table/{table}`
 * reads with filter, fields and limit, audited as `dreamfactory.read` with the filters.
 *
 * `baseUrl` may carry a path, for a DreamFactory behind a gateway
 * (`https://gw.example.com/df` reads `https://gw.example.com/df/api/v2/...`).
 *
 * DreamFactory's error text (SQL states, file paths, its token library's words) goes to the
 * audit event of the call, never into the error thrown here: that one is the package's own.
 *
 * @example
 * ```ts
 * const df = dreamFactory(passthrough, { baseUrl: 'https://df.example.com' });
 * const orders = await df.getRecords('db', 'orders', { filter: "status = 'open'", limit: 20 });
 * ```
 */
export function dreamFactory(
  passthrough: Pick<Passthrough, 'fetch'> | { fetch: PassthroughFetch },
  options: { baseUrl: string },
): DreamFactoryClient {
  if (typeof (passthrough as { fetch?: unknown } | undefined)?.fetch !== 'function') {
    throw new TypeError(
      'dreamFactory: the first argument must be the passthrough client (createPassthrough()) or { fetch }',
    );
  }
  // Called from JavaScript too: a missing options object is reported, not a crash.
  const base = baseUrlOf((options as { baseUrl?: unknown } | undefined)?.baseUrl);
  return {
    getRecords: (service, table, query = {}) =>
      readRecords(passthrough, base, service, table, query),
  };
}

async function readRecords(
  passthrough: { fetch: PassthroughFetch },
  base: URL,
  service: string,
  table: string,
  query: DreamFactoryQuery,
): Promise<Record<string, unknown>[]> {
  const response = await passthrough.fetch(tableUrl(base, service, table, query), {
    headers: { accept: 'application/json' },
    audit: {
      action: 'dreamfactory.read',
      filters: {
        filter: query.filter ?? null,
        fields: query.fields ?? null,
        limit: query.limit ?? null,
      },
    },
  });
  if (!response.ok) {
    // Read (bounded) and dropped: the passthrough's event keeps its start for the audit.
    await readBoundedText(response, MAX_ERROR_BODY_BYTES).catch(() => '');
    throw readRefused(`${service}/${table}`, response.status);
  }
  return recordsOf(response, `${service}/${table}`);
}

function tableUrl(base: URL, service: string, table: string, query: DreamFactoryQuery): URL {
  for (const [what, value] of [
    ['service', service],
    ['table', table],
  ] as const) {
    if (!NAME.test(value)) {
      throw new IdentityError(
        'invalid_request',
        `The DreamFactory ${what} name "${value.slice(0, 40)}" is not valid.`,
      );
    }
  }
  // Relative to the base, so that its path is kept; the names cannot leave it (see NAME).
  const url = new URL(`api/v2/${service}/_table/${table}`, base);
  if (query.filter !== undefined) url.searchParams.set('filter', query.filter);
  if (query.fields !== undefined) url.searchParams.set('fields', query.fields.join(','));
  if (query.limit !== undefined) url.searchParams.set('limit', String(query.limit));
  if (query.offset !== undefined) url.searchParams.set('offset', String(query.offset));
  if (query.order !== undefined) url.searchParams.set('order', query.order);
  return url;
}

// The records of a read: DreamFactory answers with a bare array or a `{ resource: [...] }`
// envelope.
async function recordsOf(response: Response, what: string): Promise<Record<string, unknown>[]> {
  let data: { resource?: unknown } | unknown[];
  try {
    data = (await response.json()) as typeof data;
  } catch (error) {
    if (isIdentityError(error)) throw error;
    throw new IdentityError(
      'upstream_error',
      `DreamFactory's answer for ${what} is not valid JSON.`,
      { cause: error, details: { upstream_status: response.status } },
    );
  }
  // `null` is valid JSON, and not an envelope.
  const records = Array.isArray(data) ? data : (data as { resource?: unknown } | null)?.resource;
  return Array.isArray(records) ? (records as Record<string, unknown>[]) : [];
}

function baseUrlOf(value: unknown): URL {
  let base: URL | undefined;
  try {
    base = new URL(String(value));
  } catch {
    // reported below
  }
  if (typeof value !== 'string' || base === undefined || !/^https?:$/.test(base.protocol)) {
    throw new TypeError(
      'dreamFactory: option "baseUrl" must be an absolute http(s) URL, e.g. https://df.example.com',
    );
  }
  if (base.search !== '' || base.hash !== '' || /[?#]/.test(value)) {
    throw new TypeError('dreamFactory: option "baseUrl" must not have a query or a fragment');
  }
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return base;
}

/** The package's own words for a failed read; the upstream's are in the audit event. */
function readRefused(what: string, status: number): IdentityError {
  const details = { upstream_status: status };
  const explained = "DreamFactory's explanation is in the audit log.";
  if (status === 401 || status === 403) {
    return new IdentityError(
      'upstream_refused',
      status === 401
        ? `DreamFactory refused to read ${what} (HTTP 401): it did not accept the user's credential. ${explained}`
        : `DreamFactory refused to read ${what} (HTTP 403): the user's role does not allow it. ${explained}`,
      { details },
    );
  }
  const hint =
    status === 400
      ? ': check the filter, fields and order (DreamFactory filter syntax).'
      : status === 404
        ? ': the service or table does not exist, or the user cannot see it.'
        : '.';
  return new IdentityError(
    'upstream_error',
    `DreamFactory could not read ${what} (HTTP ${status})${hint} ${explained}`,
    { details },
  );
}
