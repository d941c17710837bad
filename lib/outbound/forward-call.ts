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
import { outboundTrace, traceparentFor } from './trace-context.js';
import { callFailure, notAllowed } from './upstream-errors.js';
import type { Upstream } from './upstream.js';
import { refuseCredentialParams, refuseSecretsInUrl } from './url-credentials.js';

/** `fetch` options, plus what the audit event should record about the call. */
export interface PassthroughInit extends RequestInit {
  audit?: { action?: string; filters?: unknown };
}

/** What `createPassthrough()` settled once, for every call. */
export interface ForwardContext {
  readonly byOrigin: ReadonlyMap<string, Upstream>;
  readonly trail: AuditTrail;
  readonly fetch: typeof globalThis.fetch;
  readonly now: () => number;
  readonly source: string | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
  const { now, trail } = context;
  const started = now();
  const scope = getCurrentScope();
  const request = input instanceof Request ? input : undefined;
  // One id for the call's events and for the upstream's logs: the request's, when in one.
  const requestId = scope?.requestId || randomUUID();
  const record = new ForwardAudit(
    {
      trail,
      identity,
      action: init.audit?.action ?? 'forward',
      filters: init.audit?.filters,
      requestId,
      ip: scope?.ip,
      source: context.source ?? scope?.source ?? DEFAULT_AUDIT_SOURCE,
      started,
      now,
    },
    (init.method ?? request?.method ?? 'GET').toUpperCase(),
  );
  const callerSignal = init.signal ?? request?.signal ?? undefined;
  try {
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
    let url = targetUrl(input);
    record.url = url;
    const trace = outboundTrace(scope?.traceparent, requestId);
    const userCredential = credentialOf(identity)?.value;
    let body: RequestInit['body'] = init.body ?? request?.body ?? null;
    let dropBodyHeaders = false;
    const signal = combinedSignal(callerSignal, context.byOrigin.get(url.origin));
    for (let hop = 0; ; hop++) {
      const upstream = context.byOrigin.get(url.origin);
      record.upstream = upstream;
      if (upstream === undefined) throw notAllowed(url, hop);
      refuseCredentialParams(url);
      const strategy = upstream.strategy ?? forwardStrategy;
      const token = await strategy.credentialFor(identity, upstream, now(), signal);
      refuseSecretsInUrl(url, [userCredential, token]);
      record.traceparent = traceparentFor(trace);
      const headers = outboundHeaders(init.headers ?? request?.headers, upstream, token, {
        requestId,
        traceparent: record.traceparent,
      });
      if (dropBodyHeaders) {
        for (const name of [...headers.keys()]) {
          if (name.startsWith('content-')) headers.delete(name);
        }
      }
      if (hop === 0 && trail.policy === 'fail-closed' && !SAFE_METHODS.has(record.method)) {
        // A write changes data before its response (and so its event) exists: under
        // fail-closed, its intent must be written (on disk, for the audit file) before it is
        // sent, or it is not sent.
        await record.record({ intent: true });
      }
      const response = await context.fetch(url, {
        method: record.method,
        headers,
        body,
        redirect: 'manual',
        signal,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      });
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) {
        return await forwardResponse(response, {
          upstream,
          record,
          deadlineMs: upstream.timeoutMs - (now() - started),
          callerSignal,
          secrets: [token, userCredential, ...Object.values(upstream.headers)],
        });
      }
      await response.body?.cancel();
      if (hop >= upstream.maxRedirects) {
        throw new IdentityError(
          'upstream_unavailable',
          `The data API redirected more than ${upstream.maxRedirects} times.`,
          { details: { upstream: upstream.name } },
        );
      }
      // RFC 9110 §15.4: 303 (and 301/302 after a POST) continue as GET without a body.
      if (
        (response.status === 303 && record.method !== 'HEAD') ||
        ((response.status === 301 || response.status === 302) && record.method === 'POST')
      ) {
        record.method = 'GET';
        body = null;
        dropBodyHeaders = true;
      } else if (body instanceof ReadableStream) {
        throw new IdentityError(
          'upstream_unavailable',
          'The data API redirected a streamed request body, which cannot be sent twice.',
          { details: { upstream: upstream.name } },
        );
      }
      url = new URL(location, url);
      record.url = url;
    }
  } catch (error) {
    const refusal = callFailure(error, record.upstream, callerSignal);
    await record.record({ error: refusal });
    throw refusal;
  }
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
