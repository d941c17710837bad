import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import { auditTrailFrom } from '../audit/audit-options.js';
import { authenticatorShape, type AuthenticatorOptions } from '../bearer/authenticator-options.js';
import {
  compileBearerAuthenticator,
  type IdentifyingAuthenticator,
} from '../bearer/bearer-authenticator.js';
import type { Identity } from '../core/identity.js';
import { parseOptions } from '../core/options.js';
import { getCurrentIdentity } from '../core/request-context.js';
import { compileCallPolicy, type CallPolicy } from './call-policy.js';
import { guardMcpRequest, type McpGuardSettings, type McpHttpRequest } from './mcp-guard.js';
import {
  DEFAULT_SESSION_IDLE_SEC,
  mcpOptionsSchema,
  type McpOptions,
  type ParsedMcpOptions,
} from './mcp-options.js';
import { createMcpTokenVerifier } from './mcp-token-verifier.js';
import {
  resourceMetadataDocument,
  serveResourceMetadata,
  type ProtectedResourceMetadata,
} from './resource-metadata.js';
import { createMemoryMcpSessionStore } from './session-binding.js';
import { createSessionBinding } from './session-guard.js';

/** Default: 4 MiB, the MCP SDK transport's own limit. */
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** A connect-style handler: Express, or `node:http` with a `next` of your own. */
export type McpHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** An MCP server protected as an OAuth 2.0 resource server. See {@link protectMcp}. */
export interface ProtectedMcp {
  /**
   * Mount before the MCP transport on the MCP endpoint (POST, GET, DELETE): authenticates,
   * checks the session's owner and each call's requirements, audits every call, and runs the
   * transport as the user (`req.auth` for the SDK, `getCurrentIdentity()` in tools).
   */
  readonly guard: McpHandler;
  /** Serves the Protected Resource Metadata (RFC 9728) at its paths; passes others on. */
  readonly metadata: McpHandler;
  /** The metadata URL the 401 challenge names. */
  readonly metadataUrl: string;
  readonly resourceMetadata: ProtectedResourceMetadata;
  /**
   * Pass as the transport's `sessionIdGenerator`: each session is bound to the user who opened
   * it, and the guard refuses it to anyone else (a session it did not bind is refused too).
   */
  readonly sessionIdGenerator: () => string;
  /**
   * For the SDK's own `requireBearerAuth({ verifier })`: the same verification, audience and
   * service-account refusal, audited. The guard is preferred (per-tool rules, sessions, 503s).
   */
  readonly verifier: OAuthTokenVerifier;
  /** Whether the user (default: the current request's) may call a tool: to hide the others. */
  mayCall(tool: string, identity?: Identity): Promise<boolean>;
  /** Fetches every issuer's JWKS now, so a wrong URL fails at startup. */
  warm(): Promise<void>;
}

/**
 * Protects an MCP server (Streamable HTTP) as an OAuth 2.0 resource server, as the MCP
 * authorization specification asks: tokens must be issued for this server (`resource` is the
 * required audience), the 401 challenge points clients to the metadata, every tool call runs as
 * the signed-in user and is audited, and service accounts are refused by default.
 *
 * @example
 * ```ts
 * const mcp = protectMcp({
 *   resource: 'https://mcp.example.com/mcp',
 *   issuer: 'https://login.example.com/',
 *   jwksUri: 'https://login.example.com/.well-known/jwks.json',
 *   tools: { query_orders: { scopes: ['orders:read'] } },
 * });
 * app.use(mcp.metadata);
 * app.all('/mcp', express.json(), mcp.guard, (req, res) => transport.handleRequest(req, res, req.body));
 * ```
 */
export function protectMcp(options: McpOptions): ProtectedMcp {
  const parsed = parseOptions(mcpOptionsSchema(), withIssuerAudiences(options), 'protectMcp');
  const authenticator = compileBearerAuthenticator(authenticatorOptionsOf(parsed), 'protectMcp');
  const policy = compileCallPolicy(parsed.requirements, parsed.tools);
  const document = resourceMetadataDocument({
    resource: parsed.resource,
    issuers: parsed.issuers?.map((entry) => entry.issuer) ?? [parsed.issuer ?? ''],
    scopesSupported: parsed.scopesSupported,
    resourceName: parsed.resourceName,
  });
  const settings = guardSettingsOf(parsed, authenticator, policy, document.url);
  return Object.freeze({
    guard: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      guardMcpRequest(settings, req as McpHttpRequest, res, next).catch(next);
    },
    metadata: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
      if (!serveResourceMetadata(document, req, res)) next();
    },
    metadataUrl: document.url,
    resourceMetadata: document.metadata,
    sessionIdGenerator: () => settings.sessions.generate(),
    verifier: createMcpTokenVerifier(settings),
    async mayCall(tool: string, identity: Identity | undefined = getCurrentIdentity()) {
      return identity !== undefined && (await policy.mayCall(identity, tool));
    },
    warm: () => authenticator.warm(),
  });
}

/**
 * Each entry of `issuers` may leave out `audience`, as the single-issuer form may: on an MCP
 * server it can only be the resource. Anything malformed is left for validation to report.
 */
function withIssuerAudiences(options: McpOptions): McpOptions {
  const input: unknown = options;
  if (typeof input !== 'object' || input === null) return options;
  const { issuers, resource } = input as { issuers?: unknown; resource?: unknown };
  if (!Array.isArray(issuers)) return options;
  return {
    ...options,
    issuers: issuers.map((entry: unknown) =>
      typeof entry === 'object' && entry !== null && !('audience' in entry)
        ? { ...entry, audience: resource }
        : entry,
    ) as McpOptions['issuers'],
  };
}

function guardSettingsOf(
  parsed: ParsedMcpOptions,
  authenticator: IdentifyingAuthenticator,
  policy: CallPolicy,
  metadataUrl: string,
): McpGuardSettings {
  return Object.freeze({
    authenticator,
    policy,
    sessions: createSessionBinding(
      parsed.sessions ?? createMemoryMcpSessionStore(),
      parsed.sessionIdleSec ?? DEFAULT_SESSION_IDLE_SEC,
    ),
    trail: auditTrailFrom(parsed),
    source: parsed.source ?? 'mcp-server',
    resource: parsed.resource,
    acceptOtherAudiences: parsed.acceptTokensForOtherAudiences ?? false,
    challenge: {
      metadataUrl,
      // The scopes every call needs; failing those, what the server offers.
      scopes:
        policy.requiredScopes.length > 0 ? policy.requiredScopes : (parsed.scopesSupported ?? []),
      realm: undefined,
    },
    maxBodyBytes: parsed.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    generateRequestId: parsed.generateRequestId,
    now: parsed.now ?? Date.now,
  });
}

/**
 * The bearer authenticator's options: the MCP server's resource is the audience of every
 * issuer. An audience set to anything else is a mistake that would accept tokens issued for
 * another server, so it fails at startup.
 */
function authenticatorOptionsOf(parsed: ParsedMcpOptions): AuthenticatorOptions {
  const { resource } = parsed;
  const shape = authenticatorShape();
  const core = Object.fromEntries(
    Object.entries(parsed).filter(([key]) => Object.hasOwn(shape, key)),
  ) as AuthenticatorOptions;
  if (core.credentialsRequired === false) {
    throw new TypeError(
      'protectMcp: option "credentialsRequired" cannot be false: an MCP server protected by this package needs a token on every request',
    );
  }
  const checkAudience = (audience: string | readonly string[] | undefined, where: string) => {
    const list = audience === undefined ? [] : typeof audience === 'string' ? [audience] : audience;
    if (list.some((value) => value !== resource)) {
      throw new TypeError(
        `protectMcp: option "${where}" must be left out or equal "resource" (${resource}): tokens must be issued for this MCP server`,
      );
    }
  };
  checkAudience(core.audience, 'audience');
  core.issuers?.forEach((entry, index) =>
    checkAudience(entry.audience, `issuers.${index}.audience`),
  );
  if (core.issuers !== undefined) return core;
  return { ...core, audience: resource };
}
