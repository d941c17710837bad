// instrumentOpenTelemetry() with the SDK's in-memory exporters, against real servers: a JWKS
// issuer behind authenticate(), slapd for directory calls, a recording upstream for forwards.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  identityErrorHandler,
  requireUser,
} from '../../lib/index.js';
import { instrumentOpenTelemetry, METRIC_NAMES } from '../../lib/otel.js';
import { loadOpenTelemetryApi } from '../../lib/observe/otel-bridge.js';
import {
  decisionChannel,
  directoryChannel,
  forwardChannel,
  jwksFetchChannel,
  publishTokenCacheLookup,
  tokenCacheChannel,
} from '../../lib/core/diagnostics.js';
import { createLdapAuthenticator } from '../../lib/ldap.js';
import { serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';
import { createTestIssuer, TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';
import { waitFor } from '../observe/channel-recorder.js';

const idp = useTestIssuer();
const API_KEY = 'df-app-key-9c1d77e0b2';
const COOKIE = 'sid=s%3Asecret-session-cookie-41f2';
let slapd: Slapd;
let upstream: RecordingUpstream;

beforeAll(async () => {
  [slapd, upstream] = await Promise.all([startSlapd(), createRecordingUpstream()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([slapd.stop(), upstream.close()]);
});

let spanExporter: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider;
let metricExporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider;
let stop: () => void;

beforeEach(() => {
  spanExporter = new InMemorySpanExporter();
  tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  });
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Collected when the test asks (forceFlush), not on a timer.
  reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  meterProvider = new MeterProvider({ readers: [reader] });
  stop = instrumentOpenTelemetry({ tracerProvider, meterProvider });
});
afterEach(async () => {
  stop();
  await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
});

const spans = (): ReadableSpan[] => spanExporter.getFinishedSpans();
const spansNamed = (name: string): ReadableSpan[] => spans().filter((span) => span.name === name);

async function metrics(): Promise<MetricData[]> {
  metricExporter.reset();
  await reader.forceFlush();
  return metricExporter
    .getMetrics()
    .flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
}

/** The sum of a counter's points (or a histogram's counts) whose attributes include `match`. */
function total(all: MetricData[], name: string, match: Record<string, unknown> = {}): number {
  const metric = all.find((candidate) => candidate.descriptor.name === name);
  return (metric?.dataPoints ?? [])
    .filter((point) =>
      Object.entries(match).every(([key, value]) => point.attributes[key] === value),
    )
    .reduce(
      (sum, point) =>
        sum +
        (typeof point.value === 'number' ? point.value : (point.value as { count: number }).count),
      0,
    );
}

function api(options: { upstreamOrigin?: string } = {}) {
  const audit = createMemoryAuditSink();
  const passthrough = createPassthrough({
    upstreams: {
      reports: {
        origin: options.upstreamOrigin ?? upstream.origin,
        audience: 'reports-api',
        headers: { 'X-Api-Key': API_KEY },
      },
    },
    audit,
  });
  const app = express();
  app.use(
    authenticate({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri, audit }),
  );
  app.get('/ai/chat', requireUser(), (req, res) => {
    res.json({ user: req.identity?.username });
  });
  app.get('/ai/report', requireUser(), (_req, res, next) => {
    passthrough
      .fetch(`${upstream.origin}/reports/7`)
      .then((reply) => reply.json())
      .then((data) => res.json(data), next);
  });
  app.use(identityErrorHandler());
  return serve(app);
}

describe('decisions', () => {
  test('a span per decision with the user as enduser.id; the counter by outcome and reason', async () => {
    const agent = await api();
    const token = await idp.sign();
    expect((await agent.get('/ai/chat').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect((await agent.get('/ai/chat')).status).toBe(401);
    await waitFor(() => spansNamed('identity authenticate').length >= 1, 'the refusal span');
    const [allowed] = spansNamed('identity authorize');
    const [refused] = spansNamed('identity authenticate');
    expect(allowed?.kind).toBe(SpanKind.INTERNAL);
    expect(allowed?.attributes).toMatchObject({
      'enduser.id': 'alice',
      'identity.action': 'authorize',
      'identity.outcome': 'allowed',
      'identity.reason': 'ok',
      'identity.resource': 'GET /ai/chat',
      'identity.provider': 'jwt',
    });
    expect(refused?.attributes).toMatchObject({
      'identity.outcome': 'denied',
      'identity.reason': 'credentials_missing',
      'identity.status': 401,
    });
    expect(refused?.attributes['enduser.id']).toBeUndefined();
    // A refusal is the service doing its job, not an error of the span.
    expect(refused?.status.code).toBe(SpanStatusCode.UNSET);
    const all = await metrics();
    expect(total(all, METRIC_NAMES.decisions, { 'identity.outcome': 'allowed' })).toBe(1);
    expect(
      total(all, METRIC_NAMES.decisions, {
        'identity.action': 'authenticate',
        'identity.outcome': 'denied',
        'identity.reason': 'credentials_missing',
      }),
    ).toBe(1);
  });

  test("a wrong-audience refusal's span carries the audience the token carried", async () => {
    const agent = await api();
    const token = await idp.sign({ aud: ['api://reports', 'api://billing'] });
    const res = await agent.get('/ai/chat').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
    await waitFor(
      () => spans().some((span) => span.attributes['identity.reason'] === 'token_audience_invalid'),
      'the refusal span',
    );
    const refusal = spans().find(
      (span) => span.attributes['identity.reason'] === 'token_audience_invalid',
    );
    expect(refusal?.attributes['identity.token.audience']).toEqual([
      'api://reports',
      'api://billing',
    ]);
    expect(
      total(await metrics(), METRIC_NAMES.decisions, {
        'identity.reason': 'token_audience_invalid',
      }),
    ).toBe(1);
  });
});

describe('JWKS fetches', () => {
  test('a client span per fetch with its URL and outcome; the counter by outcome', async () => {
    const down = await createTestIssuer();
    await down.setMode('down');
    try {
      const agent = await api();
      expect(
        (await agent.get('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`)).status,
      ).toBe(200);
      const app = express();
      app.use(
        authenticate({
          issuer: down.issuer,
          audience: TEST_AUDIENCE,
          jwksUri: down.jwksUri,
          audit: createMemoryAuditSink(),
        }),
      );
      app.use(identityErrorHandler());
      const refused = await (
        await serve(app)
      )
        .get('/')
        .set('Authorization', `Bearer ${await down.sign()}`);
      expect(refused.status).toBe(503);
    } finally {
      await down.close();
    }
    const fetched = spansNamed('jwks fetch');
    const ok = fetched.find((span) => span.attributes['url.full'] === idp.jwksUri);
    const failed = fetched.find((span) => span.attributes['url.full'] === down.jwksUri);
    expect(ok?.kind).toBe(SpanKind.CLIENT);
    expect(ok?.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(idp.jwksUri).port),
      'identity.jwks.outcome': 'ok',
      'identity.jwks.keys': 1,
    });
    expect(ok?.status.code).toBe(SpanStatusCode.UNSET);
    expect(failed?.attributes).toMatchObject({
      'identity.jwks.outcome': 'error',
      'error.type': 'unreachable',
    });
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'unreachable' });
    const all = await metrics();
    expect(total(all, METRIC_NAMES.jwksFetches, { 'identity.jwks.outcome': 'ok' })).toBe(1);
    expect(
      total(all, METRIC_NAMES.jwksFetches, {
        'identity.jwks.outcome': 'error',
        'error.type': 'unreachable',
      }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('directory calls', () => {
  const { alice } = SLAPD_USERS;
  const port = () => Number(new URL(slapd.ldapsUrl).port);
  const directory = () =>
    createLdapAuthenticator({
      type: 'ldap',
      host: '127.0.0.1',
      port: port(),
      ca: slapd.ca,
      baseDn: SLAPD_BASE_DN,
      bindDn: SLAPD_READER.dn,
      bindPassword: SLAPD_READER.password,
    });

  test('a span per LDAP operation, and the latency histogram; a wrong password is refused, not failed', async () => {
    await directory().authenticate({ username: alice.uid, password: alice.password });
    await expect(
      directory().authenticate({ username: alice.uid, password: 'wrong-Pass-1' }),
    ).rejects.toMatchObject({ code: 'invalid_credentials' });
    const binds = spansNamed('ldap bind');
    expect(binds.length).toBeGreaterThanOrEqual(4);
    expect(spansNamed('ldap search').length).toBeGreaterThanOrEqual(2);
    expect(binds[0]?.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': port(),
      'network.protocol.name': 'ldap',
      'identity.directory.operation': 'bind',
      'identity.directory.outcome': 'ok',
    });
    const refused = binds.find(
      (span) => span.attributes['identity.directory.outcome'] === 'refused',
    );
    expect(refused?.attributes['error.type']).toBe('invalid_credentials');
    expect(refused?.status.code).toBe(SpanStatusCode.UNSET);
    const all = await metrics();
    const histogram = all.find(
      (metric) => metric.descriptor.name === METRIC_NAMES.directoryDuration,
    );
    expect(histogram?.descriptor.unit).toBe('ms');
    expect(
      total(all, METRIC_NAMES.directoryDuration, { 'identity.directory.operation': 'bind' }),
    ).toBe(binds.length);
    expect(
      total(all, METRIC_NAMES.directoryDuration, { 'identity.directory.outcome': 'refused' }),
    ).toBe(1);
  });
});

describe('forwarded calls', () => {
  test('a span with server.address and the status code for the user; the upstream latency histogram', async () => {
    upstream.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[]}'),
    );
    const agent = await api();
    const token = await idp.sign({ aud: [TEST_AUDIENCE, 'reports-api'] });
    const res = await agent.get('/ai/report').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    await waitFor(() => spansNamed('forward reports').length === 1, 'the forward span');
    const [forward] = spansNamed('forward reports');
    expect(forward?.kind).toBe(SpanKind.CLIENT);
    expect(forward?.attributes).toMatchObject({
      'enduser.id': 'alice',
      'identity.upstream': 'reports',
      'identity.outcome': 'allowed',
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(upstream.origin).port),
      'http.response.status_code': 200,
    });
    // One span per call: its audit event does not make a second, decision span.
    expect(spansNamed('identity forward')).toEqual([]);
    const all = await metrics();
    expect(total(all, METRIC_NAMES.upstreamDuration, { 'identity.upstream': 'reports' })).toBe(1);
    expect(total(all, METRIC_NAMES.decisions, { 'identity.action': 'forward' })).toBe(1);
  });
});

test('no secret in any span or metric: token, signature, cookie, API key, LDAP passwords', async () => {
  upstream.respond((_req, res) => res.writeHead(200).end('{}'));
  const agent = await api();
  const token = await idp.sign({ aud: [TEST_AUDIENCE, 'reports-api'] });
  const wrongAudience = await idp.sign({ aud: 'api://elsewhere' });
  for (const bearer of [token, wrongAudience]) {
    await agent.get('/ai/report').set('Authorization', `Bearer ${bearer}`).set('Cookie', COOKIE);
  }
  const { alice, bob } = SLAPD_USERS;
  const directory = createLdapAuthenticator({
    type: 'ldap',
    host: '127.0.0.1',
    port: Number(new URL(slapd.ldapsUrl).port),
    ca: slapd.ca,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
  });
  await directory.authenticate({ username: alice.uid, password: alice.password });
  await directory.authenticate({ username: bob.uid, password: 'wrong-Pass-1' }).catch(() => null);
  await waitFor(() => spansNamed('forward reports').length >= 1, 'the forward span');

  const serialized = JSON.stringify([
    spans().map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
    })),
    await metrics(),
  ]);
  // Positive control: the search runs over the real telemetry.
  expect(serialized).toContain('alice');
  expect(serialized).toContain('api://elsewhere');
  for (const secret of [
    token,
    token.split('.')[2]!,
    wrongAudience.split('.')[2]!,
    'secret-session-cookie',
    API_KEY,
    alice.password,
    SLAPD_READER.password,
    'wrong-Pass-1',
    'Bearer',
  ]) {
    expect(serialized).not.toContain(secret);
  }
  const keys = new Set(spans().flatMap((span) => Object.keys(span.attributes)));
  expect([...keys].filter((key) => !ALLOWED_ATTRIBUTES.has(key))).toEqual([]);
});

const ALLOWED_ATTRIBUTES = new Set([
  'enduser.id',
  'identity.action',
  'identity.outcome',
  'identity.reason',
  'identity.resource',
  'identity.request_id',
  'identity.provider',
  'identity.kind',
  'identity.status',
  'identity.token.audience',
  'identity.upstream',
  'identity.jwks.outcome',
  'identity.jwks.keys',
  'identity.directory.operation',
  'identity.directory.outcome',
  'http.request.method',
  'http.response.status_code',
  'server.address',
  'server.port',
  'url.full',
  'network.protocol.name',
  'error.type',
]);

describe('token cache', () => {
  test('lookups are counted by result, so the hit rate is hits over all', async () => {
    for (const hit of [true, true, true, false]) publishTokenCacheLookup(hit);
    const all = await metrics();
    const hits = total(all, METRIC_NAMES.tokenCacheLookups, {
      'identity.token_cache.result': 'hit',
    });
    const misses = total(all, METRIC_NAMES.tokenCacheLookups, {
      'identity.token_cache.result': 'miss',
    });
    expect([hits, misses]).toEqual([3, 1]);
    expect(hits / (hits + misses)).toBe(0.75);
  });

  // Needs the verified-token cache to publish its lookups (publishTokenCacheLookup).
  test('a token sent twice through authenticate() is a miss, then a hit', async () => {
    const agent = await api();
    const token = await idp.sign();
    for (let i = 0; i < 2; i++) {
      expect((await agent.get('/ai/chat').set('Authorization', `Bearer ${token}`)).status).toBe(
        200,
      );
    }
    const all = await metrics();
    expect([
      total(all, METRIC_NAMES.tokenCacheLookups, { 'identity.token_cache.result': 'miss' }),
      total(all, METRIC_NAMES.tokenCacheLookups, { 'identity.token_cache.result': 'hit' }),
    ]).toEqual([1, 1]);
  });
});

describe('the bridge itself', () => {
  const channels = () =>
    [decisionChannel, forwardChannel, tokenCacheChannel, jwksFetchChannel, directoryChannel].map(
      (channel) => channel.hasSubscribers,
    );

  test('the function it returns unsubscribes everything, once; nothing is recorded after', async () => {
    expect(channels()).toEqual([true, true, true, true, true]);
    stop();
    stop();
    expect(channels()).toEqual([false, false, false, false, false]);
    const agent = await api();
    const res = await agent.get('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.status).toBe(200);
    publishTokenCacheLookup(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(spans()).toEqual([]);
    expect(total(await metrics(), METRIC_NAMES.decisions)).toBe(0);
  });

  test('spans: false records metrics only', async () => {
    stop();
    stop = instrumentOpenTelemetry({ tracerProvider, meterProvider, spans: false });
    publishTokenCacheLookup(false);
    const agent = await api();
    await agent.get('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    const all = await metrics();
    expect(total(all, METRIC_NAMES.tokenCacheLookups)).toBeGreaterThanOrEqual(1);
    expect(total(all, METRIC_NAMES.decisions, { 'identity.action': 'authorize' })).toBe(1);
    expect(spans()).toEqual([]);
  });

  test.each([
    [{ tracerProvder: {} }, /unknown option "tracerProvder" \(did you mean "tracerProvider"\?\)/],
    [{ tracerProvider: {} }, /option "tracerProvider" must have getTracer\(\)/],
    [{ metrics: 'yes' }, /instrumentOpenTelemetry: option "metrics"/],
  ])('%j is refused with a TypeError naming the option', (options, message) => {
    expect(() => instrumentOpenTelemetry(options as never)).toThrow(TypeError);
    expect(() => instrumentOpenTelemetry(options as never)).toThrow(message);
  });

  test('without @opentelemetry/api, the error says how to install it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'eip-no-otel-'));
    try {
      const requireFromEmpty = createRequire(join(empty, 'index.js'));
      expect(() => loadOpenTelemetryApi(requireFromEmpty)).toThrow(
        'instrumentOpenTelemetry() needs the optional peer dependency @opentelemetry/api: npm install @opentelemetry/api',
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    // Positive control: the package's own resolution finds it; other failures pass through.
    expect(typeof loadOpenTelemetryApi().trace.getTracerProvider).toBe('function');
    const broken = new Error('syntax error in module');
    expect(() =>
      loadOpenTelemetryApi(() => {
        throw broken;
      }),
    ).toThrow(broken);
  });
});

test('a client choosing JSON-RPC methods cannot make action labels grow without bound', async () => {
  const { actionLabel } = await import('../../lib/observe/otel-attributes.js');
  // Positive control: the package's and MCP's actions keep their own label.
  expect(actionLabel('tools/call')).toBe('tools/call');
  expect(actionLabel('authorize')).toBe('authorize');
  const labels = new Set(
    Array.from({ length: 500 }, (_, index) => actionLabel(`attacker/method-${index}`)),
  );
  expect(labels.size).toBeLessThanOrEqual(51);
  expect(labels.has('other')).toBe(true);
  expect(actionLabel('x'.repeat(100))).toBe('other');
});
