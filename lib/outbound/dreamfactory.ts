import { IdentityError } from '../core/errors.js';
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

export interface DreamFactoryClient {
  /** Reads `GET /api/v2/{service}/_table/{table}` as the current user and returns its records. */
  getRecords(
    service: string,
    table: string,
    query?: DreamFactoryQuery,
  ): Promise<Record<string, unknown>[]>;
}

// Dots are allowed inside names, but '.' and '..' would walk the URL path elsewhere.
const NAME = /^(?!\.+$)[A-Za-z0-9_.-]{1,128}$/;
const MAX_ERROR_BODY_BYTES = 4_096;

/**
 * A DreamFactory helper on top of the passthrough client: `/api/v2/{service}/_table/{table}`
 * reads with filter, fields and limit, audited as `dreamfactory.read` with the filters.
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
  const base = new URL(options.baseUrl);
  return {
    async getRecords(service, table, query = {}) {
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
      const url = new URL(`/api/v2/${service}/_table/${table}`, base);
      if (query.filter !== undefined) url.searchParams.set('filter', query.filter);
      if (query.fields !== undefined) url.searchParams.set('fields', query.fields.join(','));
      if (query.limit !== undefined) url.searchParams.set('limit', String(query.limit));
      if (query.offset !== undefined) url.searchParams.set('offset', String(query.offset));
      if (query.order !== undefined) url.searchParams.set('order', query.order);
      const response = await passthrough.fetch(url, {
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
        // DreamFactory explains itself in {"error": {"message": ...}}; pass that on to the agent.
        const text = await readBoundedText(response, MAX_ERROR_BODY_BYTES).catch(() => '');
        const message =
          /"message"\s*:\s*"([^"]{1,200})"/.exec(text)?.[1] ?? `HTTP ${response.status}`;
        const refused = response.status === 401 || response.status === 403;
        throw new IdentityError(
          refused ? 'upstream_refused' : 'upstream_error',
          `DreamFactory ${refused ? 'refused the read' : 'failed'} for ${service}/${table}: ${message}`,
          { details: { upstream_status: response.status } },
        );
      }
      const data = (await response.json()) as { resource?: unknown } | unknown[];
      const records = Array.isArray(data) ? data : data.resource;
      return Array.isArray(records) ? (records as Record<string, unknown>[]) : [];
    },
  };
}
