import type { Request } from 'express';
import type { SignInRequest } from '../core/sign-in-request.js';

/** An Express request as the plain values a sign-in provider takes. */
export function signInRequest(req: Request): SignInRequest {
  return {
    method: req.method,
    url: req.originalUrl,
    headers: req.headers,
    query: req.query,
    body: (req.body ?? undefined) as Readonly<Record<string, unknown>> | undefined,
  };
}
