import { randomUUID } from 'node:crypto';
import { DEFAULT_AUDIT_SOURCE } from '../audit/audit-event.js';
import type { AuditTrail } from '../audit/auditor.js';
import { IdentityError } from '../core/errors.js';
import { credentialOf, type Identity } from '../core/identity.js';
import { getCurrentScope } from '../core/request-context.js';
import { forwardStrategy } from './credential-strategy.js';
import { ForwardAudit } from './forward-audit.js';
import { forwardResponse } from './forward-response.js';
import { outboundHeaders } from './outbound-headers.js';
import { outboundTrace, traceparentFor, type OutboundTrace } from './trace-context.js';
import { callFailure, notAllowed } from './upstream-errors.js';
import type { Upstream } from './upstream.js';
import type { UpstreamReply, UpstreamTransport } from './upstream-transport.js';
import { refuseCredentialParams, refuseSecretsInUrl } from './url-credentials.js';

/** `fetch` options, plus what the audit event should record about the call. */
export interface PassthroughInit extends RequestInit {
  audit?: { action?: string; filters?: unknown };
}

/** What `createPassthrough()` settled once, for every call. */
export interface ForwardContext {
  readonly byOrigin: ReadonlyMap<string, Upstream>;
  readonly trail: AuditTrail;
  readonly transport: UpstreamTransport;
  readonly now: () => number;
  readonly source: string | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
// What a data API call may be. TRACE and TRACK echo the request, credential included, back in
// the body; CONNECT opens a tunnel. fetch refused them; the pool's API would send them.
const SENT_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * One call of the passthrough client, as `identity`: refused before a byte is sent unless the
 * destination is a configured upstream and the URL carries no credential; each redirect hop is
 * checked again and gets its own credential; the response goes through {@link forwardResponse}.
 * Every way it ends is one audit event (and, under fail-closed, a write's intent before it).
 */
export async function forwardCall(
  context: ForwardContext,
  identity: Identity | undefined,
  input: string | URL | Request,
  init: PassthroughInit = {},
): Promise<Response> {
  const started = context.now();
  const scope = getCurrentScope();
  const request = input instanceof Request ? input : undefined;
  // One id for the call's events and for the upstream's logs: the request's, when in one.
  const requestId = scope?.requestId || randomUUID();
  const record = new ForwardAudit(
    {
      trail: context.trail,
      identity,
      action: init.audit?.action ?? 'forward',
      filters: init.audit?.filters,
      requestId,
      ip: scope?.ip,
      source: context.source ?? scope?.source ?? DEFAULT_AUDIT_SOURCE,
      started,
      now: context.now,
    },
    (init.method ?? request?.method ?? 'GET').toUpperCase(),
  );
  const callerSignal = init.signal ?? request?.signal ?? undefined;
  try {
    const person = onlyPeople(identity);
    checkMethod(record.method, init.body ?? request?.body ?? null);
    const url = targetUrl(input);
    record.url = url;
    const hop: Hop = {
      url,
      body: init.body ?? request?.body ?? null,
      dropBodyHeaders: false,
      headers: init.headers ?? request?.headers,
      trace: outboundTrace(scope?.traceparent, requestId),
      requestId,
      userCredential: credentialOf(person)?.value,
      signal: combinedSignal(callerSignal, context.byOrigin.get(url.origin)),
    };
    for (let count = 0; ; count++) {
      const { upstream, token, response } = await sendHop(context, person, record, hop, count);
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) {
        return await forwardResponse(response, {
          upstream,
          record,
          deadlineMs: upstream.timeoutMs - (context.now() - started),
          callerSignal,
          secrets: [token, hop.userCredential, ...Object.values(upstream.headers)],
        });
      }
      await response.body?.cancel();
      followRedirect(hop, record, upstream, response.status, location, count);
    }
  } catch (error) {
    const refusal = callFailure(error, record.upstream, callerSignal);
    await record.record({ error: refusal });
    throw refusal;
  }
}

/** What one hop of a call sends, and what a redirect changes for the next. */
interface Hop {
  url: URL;
  body: RequestInit['body'];
  dropBodyHeaders: boolean;
  readonly headers: RequestInit['headers'];
  readonly trace: OutboundTrace;
  readonly requestId: string;
  readonly userCredential: string | undefined;
  readonly signal: AbortSignal | undefined;
}

function checkMethod(method: string, body: unknown): void {
  if (!SENT_METHODS.has(method)) {
    throw new IdentityError(
      'upstream_not_allowed',
      `The method ${JSON.stringify(method.slice(0, 16))} is not sent to data APIs (allowed: ${[...SENT_METHODS].join(', ')}).`,
      { details: { method: method.slice(0, 16) } },
    );
  }
  if ((method === 'GET' || method === 'HEAD') && body !== null && body !== undefined) {
    throw new IdentityError(
      'upstream_not_allowed',
      `A ${method} request cannot carry a body; send the data with POST.`,
      { details: { method } },
    );
  }
}

// Data APIs are called only on behalf of a person: no identity, or a service account, is no call.
function onlyPeople(identity: Identity | undefined): Identity {
  if (identity === undefined) {
    throw new IdentityError(
      'credentials_missing',
      'No signed-in user: data APIs are called only on behalf of a person. Call this from a request that authenticate() let through.',
    );
  }
  if (identity.kind === 'service') {
    throw new IdentityError(
      'service_account_refused',
      'The identity is a service account; data APIs are called only on behalf of a person.',
      { details: { rule: identity.serviceAccountRule ?? 'unknown' } },
    );
  }
  return identity;
}

// One request to an allowed upstream, checked before a byte is sent: the destination, the
// credential parameters, the credential itself in the URL; with this hop's own credential.
async function sendHop(
  context: ForwardContext,
  identity: Identity,
  record: ForwardAudit,
  hop: Hop,
  count: number,
): Promise<{ upstream: Upstream; token: string; response: UpstreamReply }> {
  const upstream = context.byOrigin.get(hop.url.origin);
  record.upstream = upstream;
  if (upstream === undefined) throw notAllowed(hop.url, count);
  refuseCredentialParams(hop.url);
  const strategy = upstream.strategy ?? forwardStrategy;
  const token = await strategy.credentialFor(identity, upstream, context.now(), hop.signal);
  refuseSecretsInUrl(hop.url, [hop.userCredential, token]);
  record.traceparent = traceparentFor(hop.trace);
  const headers = outboundHeaders(hop.headers, upstream, token, {
    requestId: hop.requestId,
    traceparent: record.traceparent,
  });
  if (hop.dropBodyHeaders) {
    for (const name of [...headers.keys()]) {
      if (name.startsWith('content-')) headers.delete(name);
    }
  }
  if (count === 0 && context.trail.policy === 'fail-closed' && !SAFE_METHODS.has(record.method)) {
    // A write changes data before its response (and so its event) exists: under fail-closed,
    // its intent must be written (on disk, for the audit file) before it is sent, or it is not.
    await record.record({ intent: true });
  }
  const response = await context.transport(hop.url, {
    method: record.method,
    headers,
    body: hop.body,
    signal: hop.signal,
  });
  return { upstream, token, response };
}

// The next hop of a redirect, within the upstream's limit.
function followRedirect(
  hop: Hop,
  record: ForwardAudit,
  upstream: Upstream,
  status: number,
  location: string,
  count: number,
): void {
  if (count >= upstream.maxRedirects) {
    throw new IdentityError(
      'upstream_unavailable',
      `The data API redirected more than ${upstream.maxRedirects} times.`,
      { details: { upstream: upstream.name } },
    );
  }
  // RFC 9110 §15.4: 303 (and 301/302 after a POST) continue as GET without a body.
  if (
    (status === 303 && record.method !== 'HEAD') ||
    ((status === 301 || status === 302) && record.method === 'POST')
  ) {
    record.method = 'GET';
    hop.body = null;
    hop.dropBodyHeaders = true;
  } else if (hop.body instanceof ReadableStream) {
    throw new IdentityError(
      'upstream_unavailable',
      'The data API redirected a streamed request body, which cannot be sent twice.',
      { details: { upstream: upstream.name } },
    );
  }
  hop.url = new URL(location, hop.url);
  record.url = hop.url;
}

function targetUrl(input: string | URL | Request): URL {
  try {
    return new URL(input instanceof Request ? input.url : input);
  } catch (cause) {
    throw new IdentityError(
      'upstream_not_allowed',
      'The data API URL is not a valid absolute URL.',
      { cause },
    );
  }
}

function combinedSignal(
  caller: AbortSignal | undefined,
  upstream: Upstream | undefined,
): AbortSignal | undefined {
  if (upstream === undefined) return caller;
  const timeout = AbortSignal.timeout(upstream.timeoutMs);
  return caller === undefined ? timeout : AbortSignal.any([caller, timeout]);
}
