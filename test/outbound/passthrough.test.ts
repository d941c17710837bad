import axios from 'axios';
import {
  axiosPassthrough,
  createMemoryAuditSink,
  createPassthrough,
  type MemoryAuditSink,
  type PassthroughOptions,
} from '../../lib/index.js';
import { createIdentity, type Identity } from '../../lib/core/identity.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJl';
const API_KEY = 'df-app-key-5d41402abc4b2a76';

function userIdentity(
  overrides: { audience?: string[]; expiresAt?: number; kind?: 'user' | 'service' } = {},
): Identity {
  return createIdentity(
    {
      subject: 'u-alice',
      issuer: 'https://idp.example.com/',
      provider: 'jwt',
      kind: overrides.kind ?? 'user',
      ...(overrides.kind === 'service' ? { serviceAccountRule: 'auth0-client-credentials' } : {}),
      username: 'alice',
      groups: [],
      roles: ['sales_readonly'],
      scopes: [],
      attributes: {},
      tokenId: 'jti-1',
    },
    {
      type: 'bearer',
      value: TOKEN,
      audience: overrides.audience ?? ['api://ai-assistant', 'dreamfactory-api'],
      expiresAt: overrides.expiresAt ?? Math.floor(Date.now() / 1000) + 300,
    },
  );
}

let df: RecordingUpstream;
let other: RecordingUpstream;
let evil: RecordingUpstream;
let audit: MemoryAuditSink;

beforeAll(async () => {
  [df, other, evil] = await Promise.all([
    createRecordingUpstream(),
    createRecordingUpstream(),
    createRecordingUpstream(),
  ]);
});
afterAll(async () => {
  await Promise.all([df.close(), other.close(), evil.close()]);
});
beforeEach(() => {
  audit = createMemoryAuditSink();
  for (const upstream of [df, other, evil]) {
    upstream.received.length = 0;
    upstream.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[]}'),
    );
  }
});

function client(extra: Partial<PassthroughOptions> = {}) {
  return createPassthrough({
    upstreams: {
      dreamfactory: {
        origin: df.origin,
        audience: 'dreamfactory-api',
        credentialHeader: 'X-DreamFactory-Session-Token',
        headers: { 'X-DreamFactory-API-Key': API_KEY },
      },
      reports: { origin: other.origin, audience: 'reports-api' },
    },
    audit,
    ...extra,
  });
}

/** Nothing secret in any event: the test's token and API key never appear. */
function expectNoSecrets(...values: unknown[]): void {
  const text = JSON.stringify([
    audit.events,
    ...values.map((value) => (value instanceof Error ? value.message : value)),
  ]);
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain(TOKEN.split('.')[2]);
  expect(text).not.toContain(API_KEY);
}

describe('forward: what reaches the upstream', () => {
  test("the user's token in the configured header, the app key, and none of the caller's credentials", async () => {
    const fetchAsAlice = client().forIdentity(userIdentity());
    const res = await fetchAsAlice(`${df.origin}/api/v2/db/_table/orders?filter=status%3D'open'`, {
      headers: {
        Authorization: 'Bearer smuggled-service-token',
        Cookie: 'session=stolen',
        'X-DreamFactory-Session-Token': 'someone-elses-session',
        'X-DreamFactory-API-Key': 'caller-chosen-key',
        'Proxy-Authorization': 'Basic eA==',
        'X-Trace': 'kept',
      },
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(df.received).toHaveLength(1);
    const { headers } = df.received[0]!;
    expect(headers['x-dreamfactory-session-token']).toBe(TOKEN);
    expect(headers['x-dreamfactory-api-key']).toBe(API_KEY);
    expect(headers['x-trace']).toBe('kept');
    expect(headers['authorization']).toBeUndefined();
    expect(headers['cookie']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['host']).toBe(new URL(df.origin).host);
    expectNoSecrets();
  });

  test.each(['TRACE', 'TRACK', 'CONNECT'])(
    '%s, which would echo or tunnel the credential, is never sent',
    async (method) => {
      const call = client().forIdentity(userIdentity())(`${df.origin}/api/v2/db/_table/orders`, {
        method,
      });
      await expect(call).rejects.toMatchObject({ code: 'upstream_not_allowed', status: 403 });
      expect(df.received).toHaveLength(0);
      expect(audit.events[0]).toMatchObject({ outcome: 'denied', reason: 'upstream_not_allowed' });
    },
  );

  test('a GET with a body is refused before anything is sent; a PATCH with one goes', async () => {
    const fetchAsAlice = client().forIdentity(userIdentity());
    const url = `${df.origin}/api/v2/db/_table/orders`;
    await expect(fetchAsAlice(url, { method: 'GET', body: '{}' })).rejects.toMatchObject({
      code: 'upstream_not_allowed',
    });
    expect(df.received).toHaveLength(0);
    const res = await fetchAsAlice(url, { method: 'patch', body: '{"status":"done"}' });
    await res.text();
    expect(res.status).toBe(200);
    expect(df.received[0]?.method).toBe('PATCH');
  });

  test('Authorization: Bearer is the default credential header', async () => {
    const res = await client().forIdentity(userIdentity({ audience: ['reports-api'] }))(
      `${other.origin}/r`,
    );
    await res.text();
    expect(other.received[0]?.headers['authorization']).toBe(`Bearer ${TOKEN}`);
  });

  test('a token whose audience does not name the upstream is not forwarded, and says why', async () => {
    const call = client().forIdentity(userIdentity({ audience: ['api://ai-assistant'] }))(
      `${df.origin}/api/v2/db/_table/orders`,
    );
    await expect(call).rejects.toMatchObject({ code: 'upstream_audience_mismatch', status: 403 });
    await expect(call).rejects.toThrow(/not issued for "dreamfactory".*replay/);
    expect(df.received).toHaveLength(0);
    expect(audit.events[0]).toMatchObject({
      action: 'forward',
      outcome: 'denied',
      reason: 'upstream_audience_mismatch',
      upstream: 'dreamfactory',
    });
  });

  test('dangerouslySkipAudienceCheck forwards it anyway', async () => {
    const passthrough = createPassthrough({
      upstreams: {
        dreamfactory: {
          origin: df.origin,
          audience: 'dreamfactory-api',
          dangerouslySkipAudienceCheck: true,
        },
      },
      audit,
    });
    const res = await passthrough.forIdentity(userIdentity({ audience: ['api://ai-assistant'] }))(
      `${df.origin}/x`,
    );
    await res.text();
    expect(df.received).toHaveLength(1);
  });
});

describe('fail closed', () => {
  test('a call to a foreign origin is refused before a byte is sent', async () => {
    const call = client().forIdentity(userIdentity())(`${evil.origin}/steal?t=1`, {
      method: 'POST',
      body: 'x',
    });
    await expect(call).rejects.toMatchObject({ code: 'upstream_not_allowed', status: 403 });
    await expect(call).rejects.toThrow(/prompt injection/);
    expect(evil.received).toHaveLength(0);
    expect(audit.events[0]).toMatchObject({
      outcome: 'denied',
      reason: 'upstream_not_allowed',
      resource: `POST ${evil.origin}`,
    });
  });

  test.each([
    ['no identity', undefined],
    ['a service identity', userIdentity({ kind: 'service' })],
  ])('%s: no call', async (_label, identity) => {
    await expect(client().forIdentity(identity)(`${df.origin}/x`)).rejects.toMatchObject({
      status: identity === undefined ? 401 : 403,
    });
    expect(df.received).toHaveLength(0);
  });

  test('outside any request, the scope-bound fetch has no user and refuses', async () => {
    await expect(client().fetch(`${df.origin}/x`)).rejects.toMatchObject({
      code: 'credentials_missing',
    });
    expect(df.received).toHaveLength(0);
  });

  test('an expired user token is a 401 token_expired, not a silent upstream 401', async () => {
    const expired = userIdentity({ expiresAt: Math.floor(Date.now() / 1000) - 1 });
    await expect(client().forIdentity(expired)(`${df.origin}/x`)).rejects.toMatchObject({
      code: 'token_expired',
      status: 401,
    });
    expect(df.received).toHaveLength(0);
  });

  test.each([
    ['userinfo', (origin: string) => origin.replace('http://', 'http://user:pass@')],
    ['a session token', (origin: string) => `${origin}/api/v2/db/_table/orders?session_token=abc`],
    ['an API key', (origin: string) => `${origin}/x?api_key=abc`],
  ])('URLs carrying credentials (%s) are refused', async (_label, build) => {
    await expect(client().forIdentity(userIdentity())(build(df.origin))).rejects.toMatchObject({
      code: 'invalid_request',
    });
    expect(df.received).toHaveLength(0);
  });

  test('a header value with CR/LF is refused and nothing is sent', async () => {
    const call = client().forIdentity(userIdentity())(`${df.origin}/x`, {
      headers: { 'X-Note': 'a\r\nX-Injected: 1' },
    });
    await expect(call).rejects.toMatchObject({ code: 'invalid_request' });
    expect(df.received).toHaveLength(0);
  });
});

describe('redirects', () => {
  test('a redirect to a foreign origin is not followed: the foreign server receives nothing', async () => {
    df.respond((_req, res) => res.writeHead(302, { location: `${evil.origin}/collect` }).end());
    const call = client().forIdentity(userIdentity())(`${df.origin}/start`);
    await expect(call).rejects.toMatchObject({
      code: 'upstream_not_allowed',
      details: { redirect: true },
    });
    expect(df.received).toHaveLength(1);
    expect(evil.received).toHaveLength(0);
  });

  test('a redirect within the upstream is followed and re-checked hop by hop', async () => {
    df.respond((req, res) => {
      if (req.url === '/old') res.writeHead(307, { location: '/new' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]');
    });
    const res = await client().forIdentity(userIdentity())(`${df.origin}/old`, {
      method: 'POST',
      body: '{"q":1}',
    });
    expect(await res.json()).toEqual([1, 2]);
    expect(
      df.received.map((req) => [
        req.method,
        req.url,
        req.body,
        req.headers['x-dreamfactory-session-token'],
      ]),
    ).toEqual([
      ['POST', '/old', '{"q":1}', TOKEN],
      ['POST', '/new', '{"q":1}', TOKEN],
    ]);
  });

  test("a redirect to another allowed upstream gets that upstream's credential rules", async () => {
    df.respond((_req, res) => res.writeHead(303, { location: `${other.origin}/report` }).end());
    // The token names dreamfactory-api only: the hop to reports-api is refused, nothing sent.
    await expect(
      client().forIdentity(userIdentity())(`${df.origin}/go`, { method: 'POST', body: 'x' }),
    ).rejects.toMatchObject({
      code: 'upstream_audience_mismatch',
    });
    expect(other.received).toHaveLength(0);
    const both = userIdentity({ audience: ['dreamfactory-api', 'reports-api'] });
    const res = await client().forIdentity(both)(`${df.origin}/go`, { method: 'POST', body: 'x' });
    await res.text();
    expect(
      other.received.map((req) => [
        req.method,
        req.headers['authorization'],
        req.headers['x-dreamfactory-api-key'],
      ]),
    ).toEqual([['GET', `Bearer ${TOKEN}`, undefined]]);
  });

  test('too many redirects stop', async () => {
    df.respond((_req, res) => res.writeHead(302, { location: '/again' }).end());
    await expect(client().forIdentity(userIdentity())(`${df.origin}/loop`)).rejects.toMatchObject({
      code: 'upstream_unavailable',
    });
    expect(df.received).toHaveLength(4);
  });
});

describe('responses: limits, records, audit', () => {
  test("records_returned is counted from a JSON array and from DreamFactory's envelope", async () => {
    df.respond((req, res) => {
      const body =
        req.url === '/array'
          ? '[{"id":1},{"id":2},{"id":3}]'
          : '{"resource":[{"a":[1,2]},{"b":"x,y"}],"meta":{"count":2}}';
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const as = client().forIdentity(userIdentity());
    await (await as(`${df.origin}/array`)).json();
    await (await as(`${df.origin}/envelope?filter=(status%3D'open')`)).json();
    expect(audit.events.map((event) => [event.records_returned, event.filters])).toEqual([
      [3, null],
      [2, "(status='open')"],
    ]);
    expect(audit.events[1]).toMatchObject({
      user: 'alice',
      action: 'forward',
      outcome: 'allowed',
      reason: 'ok',
      upstream: 'dreamfactory',
      upstream_status: 200,
      resource: `GET ${df.origin}/envelope`,
      token_fingerprint: 'jti:jti-1',
    });
    expect(audit.events[1]?.duration_ms).toBeGreaterThanOrEqual(0);
    expectNoSecrets();
  });

  test('an upstream 403 is recorded as denied by the data layer', async () => {
    df.respond((_req, res) =>
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":{"message":"no"}}'),
    );
    const res = await client().forIdentity(userIdentity())(`${df.origin}/x`);
    expect(res.status).toBe(403);
    await res.text();
    expect(audit.events[0]).toMatchObject({
      outcome: 'denied',
      reason: 'upstream_403',
      upstream_status: 403,
    });
  });

  test('a declared oversize body is refused; an undeclared one is cut off while streaming', async () => {
    const small = client({
      upstreams: {
        dreamfactory: { origin: df.origin, audience: 'dreamfactory-api', maxResponseBytes: 1_024 },
      },
    });
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000)),
    );
    await expect(small.forIdentity(userIdentity())(`${df.origin}/big`)).rejects.toMatchObject({
      code: 'upstream_response_too_large',
    });
    df.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      for (let i = 0; i < 500; i++) res.write(`${i},`);
      res.end('0]');
    });
    const res = await small.forIdentity(userIdentity())(`${df.origin}/stream`);
    await expect(res.text()).rejects.toMatchObject({ code: 'upstream_response_too_large' });
    expect(audit.events.at(-1)).toMatchObject({
      records_returned: null,
      details: { body_error: expect.stringContaining('larger than 1024') },
    });
  });

  test('a hanging upstream is a 504 upstream_timeout after timeoutMs', async () => {
    df.respond(() => undefined);
    const quick = client({
      upstreams: {
        dreamfactory: { origin: df.origin, audience: 'dreamfactory-api', timeoutMs: 300 },
      },
    });
    await expect(quick.forIdentity(userIdentity())(`${df.origin}/hang`)).rejects.toMatchObject({
      code: 'upstream_timeout',
      status: 504,
    });
  });
});

describe('axios', () => {
  test('the interceptor sends axios requests through the same checks', async () => {
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[{"id":7}]}'),
    );
    const passthrough = client();
    const fetchAsAlice = passthrough.forIdentity(userIdentity());
    const api = axios.create({ baseURL: df.origin });
    api.interceptors.request.use(axiosPassthrough({ fetch: fetchAsAlice }));
    const res = await api.get('/api/v2/db/_table/orders', {
      headers: { Authorization: 'Bearer smuggled' },
    });
    expect(res.data).toEqual({ resource: [{ id: 7 }] });
    expect(df.received[0]?.headers['x-dreamfactory-session-token']).toBe(TOKEN);
    expect(df.received[0]?.headers['authorization']).toBeUndefined();
    await expect(api.get(`${evil.origin}/steal`)).rejects.toMatchObject({
      code: 'upstream_not_allowed',
    });
    expect(evil.received).toHaveLength(0);
    expect(audit.events.map((event) => event.records_returned)).toEqual([1, null]);
  });
});

describe('audit failure policy', () => {
  const failing = { log: () => Promise.reject(new Error('audit store down')) };

  test('fail-open: the data arrives and the failure is reported with the event', async () => {
    const reported: unknown[] = [];
    const passthrough = client({
      audit: failing,
      onAuditFailure: (error, event) => reported.push([error, event.action]),
    });
    const res = await passthrough.forIdentity(userIdentity())(`${df.origin}/x`);
    expect(await res.json()).toEqual({ resource: [] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toEqual([
      [expect.objectContaining({ message: 'audit store down' }), 'forward'],
    ]);
  });

  test('fail-closed: the body errors instead of completing', async () => {
    const passthrough = client({
      audit: failing,
      auditFailurePolicy: 'fail-closed',
      onAuditFailure: () => undefined,
    });
    const res = await passthrough.forIdentity(userIdentity())(`${df.origin}/x`);
    await expect(res.json()).rejects.toMatchObject({ code: 'audit_unavailable' });
  });
});

describe('fail-closed writes', () => {
  test('a write is not sent when its intent cannot be audited; with a healthy sink, intent then result', async () => {
    const failing = client({
      audit: { log: () => Promise.reject(new Error('audit store down')) },
      auditFailurePolicy: 'fail-closed',
      onAuditFailure: () => undefined,
    });
    await expect(
      failing.forIdentity(userIdentity())(`${df.origin}/api/v2/db/_table/orders`, {
        method: 'POST',
        body: '{}',
      }),
    ).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(df.received).toHaveLength(0);
    const healthy = client({ auditFailurePolicy: 'fail-closed' });
    const res = await healthy.forIdentity(userIdentity())(`${df.origin}/api/v2/db/_table/orders`, {
      method: 'POST',
      body: '{}',
    });
    await res.text();
    expect(df.received).toHaveLength(1);
    expect(audit.events.map((event) => [event.reason, event.upstream_status])).toEqual([
      ['intent', null],
      ['ok', 200],
    ]);
  });
});

describe('createPassthrough options', () => {
  test.each([
    [{ upstreams: {} }, /at least one upstream/],
    [
      { upstreams: { a: { origin: 'http://db.example.com', audience: 'x' } } },
      /upstreams.a.origin" must be an https:\/\/ URL/,
    ],
    [
      { upstreams: { a: { origin: 'https://db.example.com/api', audience: 'x' } } },
      /must be an origin only/,
    ],
    [{ upstreams: { a: { origin: 'https://db.example.com' } } }, /upstreams.a.audience/],
    [
      {
        upstreams: {
          a: {
            origin: 'https://db.example.com',
            audience: 'x',
            headers: { Authorization: 'Bearer svc' },
          },
        },
      },
      /"authorization" carries the user's credential/,
    ],
    [
      {
        upstreams: {
          a: { origin: 'https://db.example.com', audience: 'x', headers: { 'X-Key': 'a\nb' } },
        },
      },
      /must not contain CR, LF or NUL/,
    ],
    [
      { upstreams: { a: { origin: 'https://db.example.com', audiance: 'x' } } },
      /did you mean "audience"/,
    ],
    [
      {
        upstreams: {
          a: { origin: 'https://db.example.com', audience: 'x' },
          b: { origin: 'https://db.example.com/', audience: 'y' },
        },
      },
      /listed twice/,
    ],
    [
      {
        upstreams: {
          a: { origin: 'https://db.example.com', audience: 'x', strategy: { name: 's' } },
        },
      },
      /upstreams.a.strategy" must be a credential strategy/,
    ],
  ])('%j is refused at startup', (options, message) => {
    expect(() => createPassthrough({ ...options, audit } as never)).toThrow(message);
  });

  test.each([
    [{ audit: {} }, /option "audit" must be an audit sink/],
    [{ audit: { log: 'no' } }, /option "audit" must be an audit sink/],
    [{ fetch: 'fetch' }, /option "fetch" must be a function/],
    [{ auditFailurePolicy: 'fail-sometimes' }, /option "auditFailurePolicy"/],
  ])('%j is refused at startup', (options, message) => {
    const upstreams = { a: { origin: 'https://db.example.com', audience: 'x' } };
    expect(() => createPassthrough({ upstreams, ...options } as never)).toThrow(message);
  });
});

describe('edge cases found in review', () => {
  test('a body cancelled mid-read is audited as an error, not as a complete read', async () => {
    df.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[1,2,');
      setTimeout(() => res.end('3]'), 200);
    });
    const res = await client().forIdentity(userIdentity())(`${df.origin}/slow`);
    const reader = res.body!.getReader();
    await reader.read();
    const pending = reader.read();
    await reader.cancel(new Error('client went away'));
    await pending.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({
      outcome: 'allowed',
      reason: 'response_cancelled',
      records_returned: null,
      details: { body_error: 'client went away' },
    });
  });

  test('a body that is never read is still audited once the call times out', async () => {
    const quick = client({
      upstreams: {
        dreamfactory: { origin: df.origin, audience: 'dreamfactory-api', timeoutMs: 200 },
      },
    });
    const res = await quick.forIdentity(userIdentity())(`${df.origin}/ignored`);
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(audit.events).toEqual([
      expect.objectContaining({
        action: 'forward',
        outcome: 'error',
        reason: 'upstream_timeout',
        upstream_status: 200,
        records_returned: null,
      }),
    ]);
  });

  test('a strategy that yields an empty credential never sends the app key alone', async () => {
    const empty = createPassthrough({
      upstreams: {
        dreamfactory: {
          origin: df.origin,
          audience: 'dreamfactory-api',
          headers: { 'X-DreamFactory-API-Key': API_KEY },
          strategy: { name: 'broken', credentialFor: () => Promise.resolve('') },
        },
      },
      audit,
    });
    await expect(empty.forIdentity(userIdentity())(`${df.origin}/x`)).rejects.toMatchObject({
      code: 'credentials_missing',
    });
    expect(df.received).toHaveLength(0);
  });

  test('a redirect to a URL with userinfo on an allowed origin is refused', async () => {
    df.respond((_req, res) =>
      res.writeHead(302, { location: df.origin.replace('http://', 'http://u:p@') + '/x' }).end(),
    );
    await expect(client().forIdentity(userIdentity())(`${df.origin}/go`)).rejects.toMatchObject({
      code: 'invalid_request',
    });
    expect(df.received).toHaveLength(1);
  });

  test('method-override headers from the caller are dropped', async () => {
    const res = await client().forIdentity(userIdentity())(`${df.origin}/x`, {
      headers: { 'X-HTTP-Method-Override': 'DELETE', 'X-Method-Override': 'DELETE' },
    });
    await res.text();
    expect(df.received[0]?.headers['x-http-method-override']).toBeUndefined();
    expect(df.received[0]?.headers['x-method-override']).toBeUndefined();
  });

  test('deep or cyclic audit filters are truncated, never thrown', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const res = await client().forIdentity(userIdentity())(`${df.origin}/x`, {
      audit: { filters: cyclic },
    });
    await res.text();
    expect(JSON.stringify(audit.events[0]?.filters)).toContain('[truncated]');
  });

  test('a 10 MiB body of nested brackets is counted in constant memory', async () => {
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('['.repeat(2_000_000)),
    );
    const before = process.memoryUsage().heapUsed;
    const res = await client().forIdentity(userIdentity())(`${df.origin}/deep`);
    await res.arrayBuffer();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    expect(audit.events[0]?.records_returned).toBeNull();
  });
});
