import type { z } from 'zod';
import { auditOptionsShape } from '../audit/audit-options.js';
import { authenticatorShape } from '../bearer/authenticator-options.js';
import { lazySchema } from '../core/lazy-zod.js';
import { functionOption, objectWithMethods } from '../core/option-schemas.js';
import { requirementsSchema } from '../core/route-requirements.js';
import { secureUrl } from '../core/secure-url.js';
import type { McpSessionStore } from './session-binding.js';

/** Default: a session not used for 24 hours is forgotten (its user must open a new one). */
export const DEFAULT_SESSION_IDLE_SEC = 24 * 3600;

export const mcpOptionsSchema = lazySchema((z) =>
  z.strictObject({
    ...authenticatorShape(),
    ...auditOptionsShape,
    /**
     * The MCP server's canonical URI (RFC 8707 / RFC 9728 `resource`), e.g.
     * `https://mcp.example.com/mcp`: the audience every token must name. Required.
     */
    resource: secureUrl().refine((value) => !value.includes('#'), {
      message: 'must be a URI without a fragment (RFC 8707)',
    }),
    /**
     * Default: false. Accept tokens whose `aud` names other resources besides this server.
     * **Warning:** such a token is also valid elsewhere, and whoever holds it can replay it there.
     */
    acceptTokensForOtherAudiences: z.boolean().optional(),
    /** Scopes published in the metadata (`scopes_supported`) and offered in the 401 challenge. */
    scopesSupported: z
      .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/u))
      .min(1)
      .optional(),
    /** A human-readable name of the server, published as `resource_name`. */
    resourceName: z.string().min(1).max(200).optional(),
    /** What every call needs (scopes, roles, groups); service accounts are refused by default. */
    requirements: requirementsSchema().optional(),
    /**
     * What each tool needs beyond `requirements`, by tool name. A tool that sets
     * `dangerouslyAllowServiceAccounts` is the only thing a service account may call.
     */
    tools: z.record(z.string().min(1).max(200), requirementsSchema()).optional(),
    /** The agent acting for the user, recorded as `source`. Default: `mcp-server`. */
    source: z.string().min(1).max(100).optional(),
    /** Which user opened each MCP session. Default: in memory (one instance). */
    sessions: objectWithMethods<McpSessionStore>(
      ['bind', 'ownerOf', 'forget'],
      'must be { bind(id, owner, ttlSec), ownerOf(id), forget(id) }',
    ).optional(),
    /** A session unused this long is forgotten. Default: 86400 (24 hours). */
    sessionIdleSec: z
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .optional(),
    /** Largest JSON-RPC request body read. Default: 4 MiB, as the MCP SDK's transport. */
    maxBodyBytes: z
      .number()
      .int()
      .min(1_024)
      .max(64 * 1024 * 1024)
      .optional(),
    /** Generates request ids when the caller sends none. Default: `crypto.randomUUID`. */
    generateRequestId: functionOption<() => string>().optional(),
  }),
);

/** Options of {@link protectMcp}. */
export type McpOptions = z.input<ReturnType<typeof mcpOptionsSchema>>;
export type ParsedMcpOptions = z.output<ReturnType<typeof mcpOptionsSchema>>;
