import type { IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import {
  createRequirementsPolicy,
  type RequirementsPolicy,
  type RouteRequirements,
} from '../core/route-requirements.js';

/**
 * What a service account needs to reach a tool that lets it in: opening the session, and
 * listing tools. Nothing else (resources, prompts, other tools) opens to it.
 */
const SESSION_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'notifications/initialized',
  'notifications/cancelled',
]);

/** Decides which JSON-RPC calls an identity may make on an MCP server. */
export interface CallPolicy {
  /** The refusal of one call, or undefined when it is allowed. */
  refusal(
    identity: Identity,
    method: string | undefined,
    tool: string | undefined,
  ): Promise<IdentityError | undefined>;
  /** The refusal of what is not a call (the GET stream, the session's DELETE). */
  sessionRefusal(identity: Identity): Promise<IdentityError | undefined>;
  /**
   * The server-wide requirements alone, where the calls are not seen (the SDK's
   * `requireBearerAuth`): a tool's opt-in for service accounts does not open the server there.
   */
  serverRefusal(identity: Identity): Promise<IdentityError | undefined>;
  /** Whether the identity may call the tool, for hiding tools it cannot call. */
  mayCall(identity: Identity, tool: string): Promise<boolean>;
  /** The scopes every call needs, offered in the 401 challenge. */
  readonly requiredScopes: readonly string[];
}

/**
 * Server-wide requirements apply to every call; a tool's own add to them. Service accounts
 * are refused everywhere unless a tool lets them in (`dangerouslyAllowServiceAccounts`), and
 * then only for that tool and the session methods it needs.
 */
export function compileCallPolicy(
  requirements: RouteRequirements | undefined,
  tools: Readonly<Record<string, RouteRequirements>> | undefined,
): CallPolicy {
  const server = createRequirementsPolicy(requirements ?? {}, 'protectMcp: "requirements"');
  const serverForServices = createRequirementsPolicy(
    { ...requirements, dangerouslyAllowServiceAccounts: true },
    'protectMcp: "requirements"',
  );
  const toolPolicies = new Map<string, RequirementsPolicy>();
  let anyToolForServices = false;
  for (const [name, toolRequirements] of Object.entries(tools ?? {})) {
    toolPolicies.set(
      name,
      createRequirementsPolicy(toolRequirements, `protectMcp: "tools.${name}"`),
    );
    if (toolRequirements.dangerouslyAllowServiceAccounts === true) anyToolForServices = true;
  }
  const serverPolicyFor = (identity: Identity, opensToServices: boolean) =>
    identity.kind === 'service' && opensToServices ? serverForServices : server;

  async function refusal(identity: Identity, method: string | undefined, tool: string | undefined) {
    const toolPolicy =
      method === 'tools/call' && tool !== undefined ? toolPolicies.get(tool) : undefined;
    const opensToServices =
      toolPolicy !== undefined
        ? tools?.[tool ?? '']?.dangerouslyAllowServiceAccounts === true
        : anyToolForServices && method !== undefined && SESSION_METHODS.has(method);
    const first = await decide(serverPolicyFor(identity, opensToServices), identity);
    if (first !== undefined || toolPolicy === undefined) return first;
    return decide(toolPolicy, identity);
  }

  return Object.freeze({
    refusal,
    sessionRefusal: (identity: Identity) =>
      decide(serverPolicyFor(identity, anyToolForServices), identity),
    serverRefusal: (identity: Identity) => decide(server, identity),
    mayCall: async (identity: Identity, tool: string) =>
      (await refusal(identity, 'tools/call', tool)) === undefined,
    requiredScopes: Object.freeze([...(requirements?.scopes ?? [])]),
  });
}

async function decide(
  policy: RequirementsPolicy,
  identity: Identity,
): Promise<IdentityError | undefined> {
  return policy.refusal(identity) ?? (await policy.predicateRefusal(identity));
}
