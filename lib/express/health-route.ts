import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthReport } from '../observe/health-report.js';

// What a check that threw is reported as: its error text is for logs, not for the network.
const FAILED_CHECK = JSON.stringify({ status: 'down' });

/**
 * Serves a health check as JSON: 200 when the report is `ok` or `degraded` (the service still
 * answers, and a load balancer should keep it), 503 when it is `down`, and 503 `{"status":"down"}`
 * when the check itself throws. `Cache-Control: no-store`, so no proxy answers for it later. The
 * report holds no secret and no library error text; mount it where your probes reach it.
 *
 * @example
 * ```ts
 * const health = createHealthCheck({ auditSink: audit });
 * app.get('/healthz', healthRoute(health));
 * ```
 */
export function healthRoute(
  check: () => HealthReport,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof check !== 'function') {
    throw new TypeError(
      'healthRoute: option "check" must be the function createHealthCheck() returns',
    );
  }
  return function health(_req, res): void {
    let body = FAILED_CHECK;
    let down = true;
    try {
      const report = check();
      body = JSON.stringify(report);
      down = report.status !== 'ok' && report.status !== 'degraded';
    } catch {
      // Reported as down, below.
    }
    res.statusCode = down ? 503 : 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
  };
}
