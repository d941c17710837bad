// The OpenTelemetry bridge: its own entry, so that only an application that asks for it loads
// `@opentelemetry/api` (an optional peer dependency), and only when it calls it.

export { instrumentOpenTelemetry, INSTRUMENTATION_NAME } from './observe/otel-bridge.js';
export type { OpenTelemetryOptions } from './observe/otel-bridge.js';
export { METRIC_NAMES } from './observe/otel-metrics.js';
export { DIAGNOSTICS_CHANNELS } from './core/diagnostics.js';
export type {
  DecisionMessage,
  DirectoryMessage,
  DirectoryOperation,
  ForwardMessage,
  JwksFetchMessage,
  TokenCacheMessage,
} from './core/diagnostics.js';
