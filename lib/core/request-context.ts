import { AsyncLocalStorage } from 'node:async_hooks';
import type { Identity } from './identity.js';

/** What agent and tool code can learn about the request it runs for. */
export interface RequestScope {
  identity: Identity | undefined;
  readonly requestId: string;
  /** The client address, for audit events of calls made on the user's behalf. */
  readonly ip?: string | undefined;
  /** The agent acting for the user (audit `source`). */
  readonly source?: string | undefined;
  /**
   * The request's W3C `traceparent` header as it arrived. Upstream calls continue its trace
   * when it is valid (`traceparentFrom`), and start one of their own when it is not.
   */
  readonly traceparent?: string | readonly string[] | undefined;
  /** The response being written: once it has ended or its client has gone, the scope is over. */
  response?: { readonly writableEnded: boolean; readonly closed: boolean } | undefined;
}

const storage = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `fn` with a request scope that code without access to `req` (an agent's tool, a data
 * client) can read through {@link getCurrentIdentity}. The scope ends when its `response` has
 * ended or been abandoned, or when {@link endRequestScope} is called, so that a timer or a late
 * callback can no longer act as the user.
 */
export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** Forgets the identity of a finished request. */
export function endRequestScope(scope: RequestScope): void {
  scope.identity = undefined;
  // An async resource created during the request (a pool, an interval) keeps its scope alive;
  // it must not keep the response, its socket and the request's credential with it.
  if (scope.response !== undefined) scope.response = { writableEnded: true, closed: true };
}

/**
 * The identity of the request being served, from anywhere in its asynchronous call chain;
 * undefined outside a request, before authentication, or once the response has finished.
 *
 * @example
 * ```ts
 * import { getCurrentIdentity } from 'express-identity-passthrough';
 * export async function lookupOrdersTool() {
 *   const user = getCurrentIdentity();
 *   if (!user) throw new Error('no signed-in user');
 *   return db.orders.forUser(user.subject);
 * }
 * ```
 */
export function getCurrentIdentity(): Identity | undefined {
  return getCurrentScope()?.identity;
}

/** The request id of the request being served, when there is one. */
export function getCurrentRequestId(): string | undefined {
  return getCurrentScope()?.requestId;
}

/** The whole scope of the request being served, for this package's audit events. */
export function getCurrentScope(): Readonly<RequestScope> | undefined {
  const scope = storage.getStore();
  if (scope?.response !== undefined && (scope.response.writableEnded || scope.response.closed)) {
    // Checked when asked rather than by a listener on every response: the request is over.
    scope.identity = undefined;
    return undefined;
  }
  return scope;
}
