import type { IncomingMessage, ServerResponse } from 'node:http';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** OAuth 2.0 Protected Resource Metadata (RFC 9728 §2) of an MCP server. */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported?: readonly string[];
  readonly bearer_methods_supported: readonly ['header'];
  readonly resource_name?: string;
}

/** Where the metadata is served, and what it says. */
export interface ResourceMetadataDocument {
  /** The path-suffixed well-known URL (RFC 9728 §3.1): the one the 401 challenge names. */
  readonly url: string;
  /** The paths served: the path-suffixed one, and the root one that older clients try. */
  readonly paths: readonly string[];
  readonly metadata: ProtectedResourceMetadata;
  /** The document as sent. */
  readonly json: string;
}

/**
 * The metadata document of a resource: for `https://mcp.example.com/mcp`, served at
 * `https://mcp.example.com/.well-known/oauth-protected-resource/mcp` (the well-known segment
 * goes between host and path) and at the root well-known path.
 */
export function resourceMetadataDocument(input: {
  readonly resource: string;
  readonly issuers: readonly string[];
  readonly scopesSupported: readonly string[] | undefined;
  readonly resourceName: string | undefined;
}): ResourceMetadataDocument {
  const resource = new URL(input.resource);
  const resourcePath = resource.pathname === '/' ? '' : resource.pathname.replace(/\/$/u, '');
  const suffixed = `${WELL_KNOWN}${resourcePath}`;
  const metadata: ProtectedResourceMetadata = Object.freeze({
    resource: input.resource,
    authorization_servers: Object.freeze([...new Set(input.issuers)]),
    ...(input.scopesSupported === undefined
      ? {}
      : { scopes_supported: Object.freeze([...input.scopesSupported]) }),
    bearer_methods_supported: Object.freeze(['header'] as const),
    ...(input.resourceName === undefined ? {} : { resource_name: input.resourceName }),
  });
  return Object.freeze({
    url: `${resource.origin}${suffixed}`,
    paths: Object.freeze([...new Set([suffixed, WELL_KNOWN])]),
    metadata,
    json: JSON.stringify(metadata),
  });
}

/**
 * Serves the document on GET and HEAD at its paths, and passes anything else on. The document
 * is public and read by browser-based clients from other origins, hence `*` for CORS.
 */
export function serveResourceMetadata(
  document: ResourceMetadataDocument,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  if (!document.paths.includes(path)) return false;
  const method = req.method ?? 'GET';
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (method === 'OPTIONS') {
    // MCP clients in a browser send their protocol version header with the request.
    res
      .writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'MCP-Protocol-Version',
      })
      .end();
    return true;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
    return true;
  }
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'public, max-age=3600',
  });
  res.end(method === 'HEAD' ? undefined : document.json);
  return true;
}
