import type { Request } from 'express';
import { RequestAudit, type RequestFacts } from '../audit/request-audit.js';
import type { RequestScope } from '../core/request-context.js';
import { auditedPath } from './request-parts.js';

/** What the middlewares of one request share, kept off the request's visible properties. */
export interface RequestState {
  authenticated: boolean;
  requestId: string | undefined;
  /** The API-key header the request carries (lower case), read only when it has no identity. */
  apiKeyHeader: string | undefined;
  /** The request's audit protocol: its trail, its source, the waiting authentication event. */
  readonly audit: RequestAudit<Request>;
  realm: string | undefined;
  /** The settings of the authenticate() middleware that put `req.identity` in place, if any. */
  decidedBy: object | undefined;
  /** The client address (`req.ip`, which honours `trust proxy`), read once per request. */
  ip: string | undefined;
  /** The request scope opened for the rest of the chain, ended when the response closes. */
  scope: RequestScope | undefined;
}

// A symbol-keyed slot on the request rather than a WeakMap: a WeakMap entry per request is an
// ephemeron the garbage collector must trace on every cycle, a measurable cost at thousands of
// requests per second. Not enumerable, so a spread or a logged request does not carry it; it
// holds no secret (code with the request object can read the request itself anyway).
const STATE = Symbol('express-identity-passthrough.state');

type WithState = Request & { [STATE]?: RequestState };

export function requestState(req: Request): RequestState {
  const holder = req as WithState;
  let state = holder[STATE];
  if (state === undefined) {
    state = {
      authenticated: false,
      requestId: undefined,
      apiKeyHeader: undefined,
      audit: new RequestAudit(req, factsOf),
      realm: undefined,
      decidedBy: undefined,
      ip: undefined,
      scope: undefined,
    };
    Object.defineProperty(holder, STATE, { value: state, enumerable: false });
  }
  return state;
}

/** The client address of the request, as Express reports it, computed once. */
export function clientAddress(req: Request, state: RequestState): string | undefined {
  state.ip ??= req.ip ?? req.socket.remoteAddress;
  return state.ip;
}

// One function for every request's audit events: what they say about where they happened.
function factsOf(req: Request): RequestFacts {
  const state = requestState(req);
  return {
    method: req.method,
    path: auditedPath(req),
    ip: clientAddress(req, state),
    requestId: state.requestId ?? 'unknown',
  };
}
