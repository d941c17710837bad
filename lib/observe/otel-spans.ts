import type * as OpenTelemetry from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import {
  DIAGNOSTICS_CHANNELS,
  tracingEventName,
  type DecisionMessage,
  type DirectoryMessage,
  type ForwardMessage,
  type JwksFetchMessage,
} from '../core/diagnostics.js';
import {
  actionLabel,
  decisionAttributes,
  directoryStartAttributes,
  forwardAttributes,
  jwksStartAttributes,
} from './otel-attributes.js';
import type { Subscription } from './otel-subscription.js';

const JWKS_START = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'start');
const JWKS_END = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'asyncEnd');
const DIRECTORY_START = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'start');
const DIRECTORY_END = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'asyncEnd');

type Api = typeof OpenTelemetry;

/**
 * The spans: one per decision (`identity <action>`), per JWKS fetch (`jwks fetch`), per LDAP
 * operation (`ldap <operation>`) and per forwarded call (`forward <upstream>`). Fetches and LDAP
 * operations start as they start, under whatever span is active then (the request's).
 */
export function spanSubscriptions(api: Api, tracer: Tracer): Subscription[] {
  return [...decisionSpans(api, tracer), ...jwksSpans(api, tracer), ...directorySpans(api, tracer)];
}

function decisionSpans(api: Api, tracer: Tracer): Subscription[] {
  const { SpanKind, SpanStatusCode } = api;
  // A forwarded call has its own span, richer than its decision's; one span per call is enough.
  // The forward channel publishes just before the decision channel, with the same event.
  const forwarded = new WeakSet<object>();
  const onDecision = (message: unknown): void => {
    const event = message as DecisionMessage;
    if (forwarded.has(event)) return;
    const span = tracer.startSpan(`identity ${actionLabel(event.action)}`, {
      kind: SpanKind.INTERNAL,
      attributes: decisionAttributes(event),
    });
    // A refusal is the service doing its job; only an outage is an error.
    if (event.outcome === 'error') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: event.reason });
    }
    span.end();
  };
  const onForward = (message: unknown): void => {
    const call = message as ForwardMessage;
    forwarded.add(call.event);
    const end = Date.now();
    const span = tracer.startSpan(`forward ${call.upstream ?? '(refused)'}`, {
      kind: SpanKind.CLIENT,
      attributes: forwardAttributes(call),
      startTime: end - call.durationMs,
    });
    if (call.outcome === 'error') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: call.reason });
    }
    span.end(end);
  };
  return [
    { name: DIAGNOSTICS_CHANNELS.forward, handler: onForward },
    { name: DIAGNOSTICS_CHANNELS.decision, handler: onDecision },
  ];
}

function jwksSpans(api: Api, tracer: Tracer): Subscription[] {
  const open = new WeakMap<object, Span>();
  const start = (message: unknown): void => {
    const fetch = message as JwksFetchMessage;
    const attributes = jwksStartAttributes(fetch);
    open.set(fetch, tracer.startSpan('jwks fetch', { kind: api.SpanKind.CLIENT, attributes }));
  };
  const end = (message: unknown): void => {
    const fetch = message as JwksFetchMessage;
    const span = open.get(fetch);
    if (span === undefined) return;
    open.delete(fetch);
    span.setAttribute('identity.jwks.outcome', fetch.outcome ?? 'error');
    if (fetch.keys !== undefined) span.setAttribute('identity.jwks.keys', fetch.keys);
    if (fetch.outcome !== 'ok') failed(api, span, fetch.errorCode);
    span.end();
  };
  return [
    { name: JWKS_START, handler: start },
    { name: JWKS_END, handler: end },
  ];
}

function directorySpans(api: Api, tracer: Tracer): Subscription[] {
  const open = new WeakMap<object, Span>();
  const start = (message: unknown): void => {
    const call = message as DirectoryMessage;
    const attributes = directoryStartAttributes(call);
    const span = tracer.startSpan(`ldap ${call.operation}`, {
      kind: api.SpanKind.CLIENT,
      attributes,
    });
    open.set(call, span);
  };
  const end = (message: unknown): void => {
    const call = message as DirectoryMessage;
    const span = open.get(call);
    if (span === undefined) return;
    open.delete(call);
    span.setAttribute('identity.directory.outcome', call.outcome ?? 'error');
    // A refusal (a wrong password) is the directory doing its job, not a failed call.
    if (call.outcome === 'refused' && typeof call.errorCode === 'string') {
      span.setAttribute('error.type', call.errorCode);
    }
    if (call.outcome === 'error') failed(api, span, call.errorCode);
    span.end();
  };
  return [
    { name: DIRECTORY_START, handler: start },
    { name: DIRECTORY_END, handler: end },
  ];
}

function failed(api: Api, span: Span, code: string | null | undefined): void {
  span.setAttribute('error.type', code ?? 'error');
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: code ?? 'error' });
}
