import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { RequestAudit, type RequestFacts } from '../audit/request-audit.js';
import type { AuditTrail } from '../audit/auditor.js';
import type { IdentifyingAuthenticator } from '../bearer/bearer-authenticator.js';
import { asIdentityError, IdentityError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import { auditedPathOf, credentialParts } from '../core/node-request.js';
import { endRequestScope, runInRequestScope } from '../core/request-context.js';
import { requestIdFrom } from '../core/request-id.js';
import { checkSoleAudience } from './audience.js';
import { authInfoOf } from './auth-info.js';
import type { CallPolicy } from './call-policy.js';
import { jsonBodyOf, rpcCallsOf, type RpcCall } from './json-rpc.js';
import { mcpErrorResponse, type ChallengeContext } from './mcp-challenge.js';
import type { SessionBinding } from './session-guard.js';

/** A request reaching the MCP endpoint: a Node request, perhaps parsed by a framework. */
export type McpHttpRequest = IncomingMessage & { body?: unknown; auth?: AuthInfo };

/** What one protected MCP endpoint decides with. */
export interface McpGuardSettings {
  readonly authenticator: IdentifyingAuthenticator;
  readonly policy: CallPolicy;
  readonly sessions: SessionBinding;
  readonly trail: AuditTrail;
  readonly source: string;
  /** The resource URI, as configured. */
  readonly resource: string;
  readonly acceptOtherAudiences: boolean;
  readonly challenge: ChallengeContext;
  readonly maxBodyBytes: number;
  readonly generateRequestId: (() => string) | undefined;
  readonly now: () => number;
}

/** One request's facts for its audit events. */
interface Exchange {
  readonly req: McpHttpRequest;
  readonly requestId: string;
  /** Read at the start: a request whose body was cut short has lost its socket by the end. */
  readonly ip: string | undefined;
}

function factsOf(exchange: Exchange): RequestFacts {
  return {
    method: exchange.req.method ?? 'POST',
    path: auditedPathOf(exchange.req.url ?? '/'),
    ip: exchange.ip,
    requestId: exchange.requestId,
  };
}

/**
 * Authenticates, binds and guards one request to the MCP endpoint, then runs `next` as the
 * user: `req.auth` holds the SDK's `AuthInfo`, and `getCurrentIdentity()` answers inside tool
 * handlers. Every JSON-RPC request is one audit event (`tools/call` on `query_orders`); a
 * refusal is answered here, with the challenge an MCP client follows to get a better token.
 */
export async function guardMcpRequest(
  settings: McpGuardSettings,
  req: McpHttpRequest,
  res: ServerResponse,
  next: (error?: unknown) => void,
): Promise<void> {
  const requestId = requestIdFrom(req.headers, settings.generateRequestId);
  res.setHeader('X-Request-Id', requestId);
  const ip = req.socket.remoteAddress;
  const audit = new RequestAudit<Exchange>({ req, requestId, ip }, factsOf);
  audit.trail = settings.trail;
  audit.source = settings.source;
  let identity: Identity | undefined;
  try {
    identity = await authenticateCaller(settings, req);
  } catch (error) {
    await refuse(settings, res, audit, requestId, { action: 'authenticate', error });
    return;
  }
  try {
    await settings.sessions.check(req, identity);
    await decideCalls(settings, req, audit, identity);
  } catch (error) {
    await refuse(settings, res, audit, requestId, { action: 'authorize', error, identity });
    return;
  }
  req.auth = authInfoOf(identity, settings.resource);
  const scope = {
    identity,
    requestId,
    ip,
    source: settings.source,
    response: res,
    traceparent: req.headers['traceparent'],
  };
  res.once('close', () => {
    endRequestScope(scope);
  });
  settings.sessions.afterResponse(req, res);
  runInRequestScope(scope, () => {
    next();
  });
}

async function authenticateCaller(
  settings: McpGuardSettings,
  req: McpHttpRequest,
): Promise<Identity> {
  const identity = await settings.authenticator.identify(credentialParts(req));
  if (identity === undefined) {
    throw new IdentityError('credentials_missing', 'This MCP server needs a bearer token.');
  }
  checkSoleAudience(identity, settings.resource, settings.acceptOtherAudiences);
  return identity;
}

async function decideCalls(
  settings: McpGuardSettings,
  req: McpHttpRequest,
  audit: RequestAudit<Exchange>,
  identity: Identity,
): Promise<void> {
  const actor = identity.clientId;
  const method = req.method ?? 'POST';
  if (method !== 'POST') {
    const action = method === 'DELETE' ? 'mcp/end-session' : 'mcp/open-stream';
    const refusal = await settings.policy.sessionRefusal(identity);
    await audit.record({ action, identity, error: refusal, actor, now: settings.now });
    if (refusal !== undefined) throw new AlreadyAudited(refusal);
    return;
  }
  const body = await jsonBodyOf(req, settings.maxBodyBytes);
  req.body = body;
  const decided = await decideEach(settings.policy, identity, rpcCallsOf(body));
  // A batch runs whole or not at all: when one call is refused, only refusals are recorded,
  // so that no event says "allowed" of a call that never ran.
  const refused = decided.some((entry) => entry.refusal !== undefined);
  for (const { call, refusal } of decided) {
    // Notifications are audited only when refused: they are the session's housekeeping.
    if (refused ? refusal === undefined : !call.isRequest) continue;
    await audit.record({
      action: call.method ?? 'unknown',
      resource: call.target ?? call.method,
      identity,
      error: refusal,
      actor,
      details: call.id === undefined ? undefined : { jsonrpc_id: call.id },
      now: settings.now,
    });
  }
  const first = decided.find((entry) => entry.refusal !== undefined)?.refusal;
  if (first !== undefined) throw new AlreadyAudited(first);
}

async function decideEach(
  policy: CallPolicy,
  identity: Identity,
  calls: readonly RpcCall[],
): Promise<{ readonly call: RpcCall; readonly refusal: IdentityError | undefined }[]> {
  const decided = [];
  for (const call of calls) {
    if (call.method === undefined) continue;
    decided.push({ call, refusal: await policy.refusal(identity, call.method, call.target) });
  }
  return decided;
}

/** A refusal whose audit event is written: the catch-all must not write a second one. */
class AlreadyAudited extends Error {
  constructor(readonly refusal: IdentityError) {
    super(refusal.message);
  }
}

async function refuse(
  settings: McpGuardSettings,
  res: ServerResponse,
  audit: RequestAudit<Exchange>,
  requestId: string,
  failure: { action: string; error: unknown; identity?: Identity },
): Promise<void> {
  const { error } = failure;
  let refusal: IdentityError;
  if (error instanceof AlreadyAudited) refusal = error.refusal;
  else {
    refusal = asIdentityError(error, 'The MCP request failed unexpectedly.');
    try {
      await audit.record({
        action: failure.action,
        identity: failure.identity,
        error: refusal,
        now: settings.now,
      });
    } catch (auditError) {
      // The trail refuses with audit_unavailable; anything else is a fault of this code.
      refusal = asIdentityError(auditError, 'The MCP request failed unexpectedly.');
    }
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, headers, body } = mcpErrorResponse(refusal, requestId, settings.challenge);
  res.writeHead(status, headers).end(body);
}
