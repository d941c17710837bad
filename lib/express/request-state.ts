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
    };
    states.set(req, state);
  }
  return state;
}
