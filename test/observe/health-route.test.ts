// healthRoute() in a real Express app: the status code follows the report, the body is the
// report as JSON, never cached, and a check that throws shows none of its text.
import {
  createHealthCheck,
  createWinstonAuditSink,
  healthRoute,
  type HealthCheck,
  type HealthReport,
} from '../../lib/index.js';
import { closeServers, EXPRESS_VERSIONS, serve } from '../helpers/http.js';
import { waitFor } from './channel-recorder.js';

const checks: HealthCheck[] = [];
let full: ReturnType<typeof createWinstonAuditSink>;

beforeAll(async () => {
  // A real failing sink: every write to /dev/full fails with ENOSPC.
  full = createWinstonAuditSink({ filename: '/dev/full' });
  full.log({ user: 'alice', action: 'authenticate' } as never);
  await waitFor(() => full.failure !== undefined, 'the failed audit write');
});
afterAll(async () => {
  full.logger.close();
  for (const check of checks) check.close();
  await closeServers();
});

function healthCheck(options?: Parameters<typeof createHealthCheck>[0]): HealthCheck {
  const check = createHealthCheck(options);
  checks.push(check);
  return check;
}

test('healthRoute() refuses anything but a check function, naming it', () => {
  expect(() => healthRoute({} as never)).toThrow(TypeError);
  expect(() => healthRoute(undefined as never)).toThrow(/healthRoute: option "check"/);
});

describe.each(EXPRESS_VERSIONS)('healthRoute() on %s', (_name, express) => {
  async function get(check: () => HealthReport) {
    const app = express();
    app.get('/healthz', healthRoute(check));
    return (await serve(app)).get('/healthz');
  }

  test('ok: 200, the report as JSON, Cache-Control: no-store', async () => {
    const res = await get(healthCheck());
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ status: 'ok', jwks: [], directories: [], audit: null });
  });

  test('degraded is still 200: a failing fail-open audit sink', async () => {
    const res = await get(healthCheck({ auditSink: full }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'degraded',
      audit: { failing: true, errorCode: 'ENOSPC' },
    });
  });

  test('down is 503: the same sink under fail-closed', async () => {
    const res = await get(healthCheck({ auditSink: full, auditFailurePolicy: 'fail-closed' }));
    expect(res.status).toBe(503);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ status: 'down', audit: { status: 'down' } });
    expect(res.text).not.toContain(full.failure?.message ?? '(none)');
  });

  test('a check that throws is 503 {"status":"down"}, without its text', async () => {
    const res = await get(() => {
      throw new Error('connect ECONNREFUSED internal-db.corp:5432 password=hunter2');
    });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: 'down' });
    expect(res.text).not.toMatch(/ECONNREFUSED|hunter2|internal-db/);
  });
});
