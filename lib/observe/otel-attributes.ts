import type { Attributes } from '@opentelemetry/api';
import {
  portOf,
  type DecisionMessage,
  type DirectoryMessage,
  type ForwardMessage,
  type JwksFetchMessage,
} from '../core/diagnostics.js';
import { withoutSecrets } from './safe-url.js';

// Attributes are built from the fields named here and nothing else: the events also hold the
// token's fingerprint, filters and the library's error text, none of which belongs in a span.

// Actions the package and MCP define, always their own label; an MCP client chooses the method
// it sends, so any other action gets a label of its own only while there are few of them.
const KNOWN_ACTIONS = new Set([
  'authenticate',
  'authorize',
  'forward',
  'query',
  'sign_in',
  'sign_out',
  'session_refresh',
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'notifications/initialized',
  'notifications/cancelled',
]);
const MAX_OTHER_ACTIONS = 50;
const otherActions = new Set<string>();

/**
 * The action as a metric label or span name: bounded in number, so that a client choosing
 * JSON-RPC methods cannot make the metrics' label values (and their memory) grow without limit.
 */
export function actionLabel(action: string): string {
  if (KNOWN_ACTIONS.has(action) || otherActions.has(action)) return action;
  if (otherActions.size >= MAX_OTHER_ACTIONS || action.length > 64) return 'other';
  otherActions.add(action);
  return action;
}

/** A decision's span attributes: who (`enduser.id`), what, and how it ended. */
export function decisionAttributes(event: DecisionMessage): Attributes {
  const attributes: Attributes = {
    'identity.action': event.action,
    'identity.outcome': event.outcome,
    'identity.reason': event.reason,
    'identity.resource': withoutQuery(event.resource),
    'identity.request_id': event.request_id,
  };
  if (event.user !== null) attributes['enduser.id'] = event.user;
  if (event.provider !== null) attributes['identity.provider'] = event.provider;
  if (event.kind !== null) attributes['identity.kind'] = event.kind;
  if (event.status !== null) attributes['identity.status'] = event.status;
  const carried = carriedAudience(event);
  if (carried !== undefined) attributes['identity.token.audience'] = carried;
  return attributes;
}

/** A decision's metric attributes: few values each, whatever the traffic. */
export function decisionMetricAttributes(event: DecisionMessage): Attributes {
  return {
    'identity.action': actionLabel(event.action),
    'identity.outcome': event.outcome,
    'identity.reason': event.reason,
  };
}

// Which API a refused token was requested for is the fix an operator looks for. The values come
// from the token, so they are bounded again here (5 values of 200 characters).
function carriedAudience(event: DecisionMessage): string[] | undefined {
  if (event.reason !== 'token_audience_invalid') return undefined;
  const carried = event.details['carried'];
  if (!Array.isArray(carried)) return undefined;
  return carried
    .filter((value): value is string => typeof value === 'string')
    .slice(0, 5)
    .map((value) => value.slice(0, 200));
}

/** `server.address` and `server.port` of a configured URL. */
export function serverAttributes(raw: string): Attributes {
  try {
    const url = new URL(raw);
    const port = portOf(url);
    return { 'server.address': url.hostname, ...(port === null ? {} : { 'server.port': port }) };
  } catch {
    return {};
  }
}

/** A JWKS fetch's attributes as known at its start. */
export function jwksStartAttributes(message: JwksFetchMessage): Attributes {
  return { 'url.full': withoutSecrets(message.url), ...serverAttributes(message.url) };
}

/** A directory call's attributes as known at its start. */
export function directoryStartAttributes(message: DirectoryMessage): Attributes {
  return {
    'network.protocol.name': 'ldap',
    'identity.directory.operation': message.operation,
    ...serverAttributes(message.url),
  };
}

/** A forwarded call's span attributes: the decision's, and where it went and what came back. */
export function forwardAttributes(message: ForwardMessage): Attributes {
  const attributes: Attributes = {
    ...decisionAttributes(message.event),
    'http.request.method': message.method,
  };
  if (message.upstream !== null) attributes['identity.upstream'] = message.upstream;
  if (message.serverAddress !== null) attributes['server.address'] = message.serverAddress;
  if (message.serverPort !== null) attributes['server.port'] = message.serverPort;
  if (message.status !== null) attributes['http.response.status_code'] = message.status;
  return attributes;
}

// A resource is `METHOD /path` or an MCP resource URI, which may carry a query.
function withoutQuery(resource: string): string {
  const query = resource.search(/[?#]/);
  return query === -1 ? resource : resource.slice(0, query);
}
