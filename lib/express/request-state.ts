import type { Request } from 'express';
import type { AuditTrail } from '../audit/auditor.js';

/** What the middlewares of one request share, kept off the request object. */
export interface RequestState {
  authenticated: boolean;
  requestId: string | undefined;
  apiKeyHeader: string | undefined;
  audit: AuditTrail | undefined;
  source: string | undefined;
  realm: string | undefined;
  /**
   * An allowed authentication not yet written: a route guard's decision on the same request
   * records the same person and supersedes it; otherwise it is written when the response ends.
   */
  pendingAuthentication: (() => void) | undefined;
}

const states = new WeakMap<Request, RequestState>();

export function requestState(req: Request): RequestState {
  let state = states.get(req);
  if (state === undefined) {
    state = {
      authenticated: false,
      requestId: undefined,
      apiKeyHeader: undefined,
      audit: undefined,
      source: undefined,
      realm: undefined,
      pendingAuthentication: undefined,
    };
    states.set(req, state);
  }
  return state;
}
