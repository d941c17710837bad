import { createRequire } from 'node:module';
import type * as OpenTelemetry from '@opentelemetry/api';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { lazySchema } from '../core/lazy-zod.js';
import { parseOptions } from '../core/options.js';
import { metricSubscriptions } from './otel-metrics.js';
import { spanSubscriptions } from './otel-spans.js';
import { subscribeAll } from './otel-subscription.js';

/** The instrumentation scope the spans and metrics are recorded under. */
export const INSTRUMENTATION_NAME = 'express-identity-passthrough';

/** Options of {@link instrumentOpenTelemetry}. */
export interface OpenTelemetryOptions {
  /** Default: the global tracer provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** Default: true. False records metrics only. */
  spans?: boolean;
  /** Default: true. False records spans only. */
  metrics?: boolean;
}

const provider = (method: string) => (value: unknown) =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Record<string, unknown>)[method] === 'function';

const otelOptionsSchema = lazySchema((z) =>
  z.strictObject({
    tracerProvider: z
      .custom<TracerProvider>(provider('getTracer'), { message: 'must have getTracer()' })
      .optional(),
    meterProvider: z
      .custom<MeterProvider>(provider('getMeter'), { message: 'must have getMeter()' })
      .optional(),
    spans: z.boolean().optional(),
    metrics: z.boolean().optional(),
  }),
);

/**
 * Turns the package's diagnostics channels into OpenTelemetry spans and metrics, and returns the
 * function that stops it. `@opentelemetry/api` is an optional peer dependency, loaded when this
 * is called (never when the package is imported); without it this throws, naming the install.
 *
 * Spans: `identity <action>` per decision (`enduser.id` is the username), `forward <upstream>`
 * per forwarded call, `jwks fetch`, `ldap <operation>`. Metrics: `identity.decisions`,
 * `identity.token_cache.lookups`, `identity.jwks.fetches`, `identity.directory.duration` and
 * `identity.upstream.duration` (ms). No attribute holds a token, a password, a cookie, a
 * signature or a claim other than the username. Each decision then costs a span and a counter
 * update; with nothing subscribed, the channels cost nothing.
 *
 * @example
 * ```ts
 * import { instrumentOpenTelemetry } from 'express-identity-passthrough/otel';
 * const stop = instrumentOpenTelemetry(); // after the OpenTelemetry SDK is started
 * ```
 */
export function instrumentOpenTelemetry(options: OpenTelemetryOptions = {}): () => void {
  const settings = parseOptions(otelOptionsSchema(), options, 'instrumentOpenTelemetry');
  const api = loadOpenTelemetryApi();
  const spans =
    settings.spans === false
      ? []
      : spanSubscriptions(
          api,
          (settings.tracerProvider ?? api.trace.getTracerProvider()).getTracer(
            INSTRUMENTATION_NAME,
          ),
        );
  const metrics =
    settings.metrics === false
      ? []
      : metricSubscriptions(
          (settings.meterProvider ?? api.metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME),
        );
  return subscribeAll([...spans, ...metrics]);
}

const requireHere = createRequire(import.meta.url);

/**
 * `@opentelemetry/api`, or an error that says how to install it. `load` is the `require` it is
 * resolved with.
 */
export function loadOpenTelemetryApi(
  load: (id: string) => unknown = requireHere,
): typeof OpenTelemetry {
  try {
    return load('@opentelemetry/api') as typeof OpenTelemetry;
  } catch (cause) {
    const code = (cause as { code?: unknown } | null)?.code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw cause;
    throw new Error(
      'instrumentOpenTelemetry() needs the optional peer dependency @opentelemetry/api: npm install @opentelemetry/api',
      { cause },
    );
  }
}
