import type { Attributes, Meter } from '@opentelemetry/api';
import {
  DIAGNOSTICS_CHANNELS,
  tracingEventName,
  type DecisionMessage,
  type DirectoryMessage,
  type ForwardMessage,
  type JwksFetchMessage,
  type TokenCacheMessage,
} from '../core/diagnostics.js';
import { decisionMetricAttributes, serverAttributes } from './otel-attributes.js';
import type { Subscription } from './otel-subscription.js';

const JWKS_END = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'asyncEnd');
const DIRECTORY_END = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'asyncEnd');

/** The names of the metrics {@link metricSubscriptions} records. */
export const METRIC_NAMES = Object.freeze({
  decisions: 'identity.decisions',
  tokenCacheLookups: 'identity.token_cache.lookups',
  jwksFetches: 'identity.jwks.fetches',
  directoryDuration: 'identity.directory.duration',
  upstreamDuration: 'identity.upstream.duration',
});

// One lookup per request: the two attribute sets are built once.
const HIT: Attributes = Object.freeze({ 'identity.token_cache.result': 'hit' });
const MISS: Attributes = Object.freeze({ 'identity.token_cache.result': 'miss' });

/**
 * The metrics: decisions by action, outcome and reason; token-cache lookups by result (the hit
 * rate is hits over all); JWKS fetches by outcome; directory and upstream latency in ms.
 */
export function metricSubscriptions(meter: Meter): Subscription[] {
  const decisions = meter.createCounter(METRIC_NAMES.decisions, {
    description: 'Authentication and authorization decisions, forwarded calls and SQL queries',
    unit: '{decision}',
  });
  const lookups = meter.createCounter(METRIC_NAMES.tokenCacheLookups, {
    description: 'Lookups in the verified-token cache',
    unit: '{lookup}',
  });
  const fetches = meter.createCounter(METRIC_NAMES.jwksFetches, {
    description: 'JWKS documents fetched',
    unit: '{fetch}',
  });
  const directory = meter.createHistogram(METRIC_NAMES.directoryDuration, {
    description: 'Duration of LDAP operations (StartTLS, bind, search)',
    unit: 'ms',
  });
  const upstream = meter.createHistogram(METRIC_NAMES.upstreamDuration, {
    description: 'Duration of calls forwarded to upstreams',
    unit: 'ms',
  });
  return [
    {
      name: DIAGNOSTICS_CHANNELS.decision,
      handler: (message) => decisions.add(1, decisionMetricAttributes(message as DecisionMessage)),
    },
    {
      name: DIAGNOSTICS_CHANNELS.tokenCache,
      handler: (message) => lookups.add(1, (message as TokenCacheMessage).hit ? HIT : MISS),
    },
    {
      name: JWKS_END,
      handler: (message) => {
        const fetch = message as JwksFetchMessage;
        fetches.add(1, {
          'identity.jwks.outcome': fetch.outcome ?? 'error',
          ...serverAttributes(fetch.url),
          ...(fetch.outcome === 'ok' ? {} : { 'error.type': fetch.errorCode ?? 'error' }),
        });
      },
    },
    {
      name: DIRECTORY_END,
      handler: (message) => {
        const call = message as DirectoryMessage;
        directory.record(call.durationMs ?? 0, {
          'identity.directory.operation': call.operation,
          'identity.directory.outcome': call.outcome ?? 'error',
          ...serverAttributes(call.url),
        });
      },
    },
    { name: DIAGNOSTICS_CHANNELS.forward, handler: (message) => recordForward(upstream, message) },
  ];
}

function recordForward(histogram: ReturnType<Meter['createHistogram']>, message: unknown): void {
  const call = message as ForwardMessage;
  // A refused destination was never called; its name is attacker-chosen text besides.
  if (call.upstream === null) return;
  histogram.record(call.durationMs, {
    'identity.upstream': call.upstream,
    'http.request.method': call.method,
    'identity.outcome': call.outcome,
    ...(call.status === null ? {} : { 'http.response.status_code': call.status }),
  });
}
