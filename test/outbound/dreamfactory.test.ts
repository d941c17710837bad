import express from 'express';
import {
  createMemoryAuditSink,
  createPassthrough,
  dreamFactory,
  identityErrorHandler,
} from '../../lib/index.js';
import { createIdentity } from '../../lib/core/identity.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { refusal } from '../helpers/refusal.js';

let df: RecordingUpstream;
beforeAll(async () => {
  df = await createRecordingUpstream();
});
afterAll(async () => {
  await closeServers();
  await df.close();
});

const alice = createIdentity(
  {
    subject: 'u-alice',
    issuer: 'https://idp/',
    provider: 'jwt',
    kind: 'user',
    username: 'alice',
    groups: [],
    roles: [],
    scopes: [],
    attributes: {},
  },
  {
    type: 'bearer',
    value: 'user-token',
    audience: ['dreamfactory-api'],
    expiresAt: Math.floor(Date.now() / 1000) + 300,
  },
);

function helper() {
  const audit = createMemoryAuditSink();
  const passthrough = createPassthrough({
    upstreams: {
      df: {
        origin: df.origin,
        audience: 'dreamfactory-api',
        credentialHeader: 'X-DreamFactory-Session-Token',
      },
    },
    audit,
  });
  return {
    audit,
    client: dreamFactory({ fetch: passthrough.forIdentity(alice) }, { baseUrl: df.origin }),
  };
}

describe('dreamFactory().getRecords', () => {
  test('reads /api/v2/{service}/_table/{table} with filter, fields and limit, as the user', async () => {
    df.received.length = 0;
    df.respond((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"resource":[{"id":1},{"id":2}]}'),
    );
    const { audit, client } = helper();
    const rows = await client.getRecords('db', 'orders', {
      filter: "(status = 'open')",
      fields: ['id', 'item'],
      limit: 5,
      order: 'id desc',
    });
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
    const url = new URL(df.received[0]!.url, df.origin);
    expect(url.pathname).toBe('/api/v2/db/_table/orders');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      filter: "(status = 'open')",
      fields: 'id,item',
      limit: '5',
      order: 'id desc',
    });
    expect(df.received[0]?.headers['x-dreamfactory-session-token']).toBe('user-token');
    expect(audit.events[0]).toMatchObject({
      action: 'dreamfactory.read',
      records_returned: 2,
      filters: { filter: "(status = 'open')", fields: ['id', 'item'], limit: 5 },
    });
  });

  test("DreamFactory's refusal reaches the agent as upstream_refused, in the package's words", async () => {
    df.respond((_req, res) =>
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end('{"error":{"code":403,"message":"Access Forbidden."}}'),
    );
    const { audit, client } = helper();
    await expect(client.getRecords('db', 'orders')).rejects.toMatchObject({
      code: 'upstream_refused',
      status: 403,
      message: expect.stringMatching(/^DreamFactory refused to read db\/orders \(HTTP 403\)/),
      details: { upstream_status: 403 },
    });
    expect(audit.events[0]).toMatchObject({
      outcome: 'denied',
      reason: 'upstream_403',
      details: { upstream_error: '{"error":{"code":403,"message":"Access Forbidden."}}' },
    });
  });

  test.each([['..'], ['.'], ['a/b'], ['x?y'], ['']])(
    'the name %j is refused before any call',
    async (name) => {
      df.received.length = 0;
      await expect(helper().client.getRecords(name, 'orders')).rejects.toMatchObject({
        code: 'invalid_request',
      });
      await expect(helper().client.getRecords('db', name)).rejects.toMatchObject({
        code: 'invalid_request',
      });
      expect(df.received).toHaveLength(0);
    },
  );
});

describe("the upstream's error text stays out of the client's error", () => {
  const LEAKY =
    '{"error":{"code":500,"message":"SQLSTATE[42S22]: Column not found: 1054 Unknown column \'ssn\' in /opt/dreamfactory/vendor/laravel/framework/src/Illuminate/Database/Connection.php:664\\u001b[31m\\u202e","context":null}}';

  test.each([
    [500, 'upstream_error', 502],
    [400, 'upstream_error', 502],
    [401, 'upstream_refused', 403],
  ])(
    'HTTP %i: %s with its own message; the text goes to the audit event, escaped',
    async (upstreamStatus, code, status) => {
      df.respond((_req, res) =>
        res.writeHead(upstreamStatus, { 'content-type': 'application/json' }).end(LEAKY),
      );
      const { audit, client } = helper();
      const error = await refusal(client.getRecords('db', 'orders'));
      expect(error).toMatchObject({ code, status, details: { upstream_status: upstreamStatus } });
      expect(error.message).toMatch(/^DreamFactory/);
      for (const leak of ['SQLSTATE', '42S22', '/opt/', 'Connection.php', 'ssn', 'Column']) {
        expect(error.message).not.toContain(leak);
      }
      const event = audit.events[0]!;
      const recorded = String(event.details['upstream_error']);
      expect(recorded).toContain('SQLSTATE[42S22]');
      expect(recorded).toContain('Connection.php');
      expect(recorded.length).toBeLessThanOrEqual(513);
      // eslint-disable-next-line no-control-regex
      expect(JSON.stringify(event)).not.toMatch(/[\u0000-\u001f\u202e]/);
    },
  );

  test('an upstream that echoes the credential: the audit excerpt has it redacted', async () => {
    df.respond((req, res) =>
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(
          `{"error":{"message":"JWSSignatureVerificationFailed for ${String(req.headers['x-dreamfactory-session-token'])}"}}`,
        ),
    );
    const { audit, client } = helper();
    const error = await refusal(client.getRecords('db', 'orders'));
    expect(error.message).not.toMatch(/JWS|user-token/);
    expect(JSON.stringify(audit.events)).not.toContain('user-token');
    expect(audit.events[0]?.details['upstream_error']).toContain('JWSSignatureVerificationFailed');
  });

  test.each([
    [403, 403, 'upstream_refused'],
    [500, 502, 'upstream_error'],
  ])(
    'behind Express, HTTP %i: the client sees the package message and no upstream text',
    async (upstreamStatus, status, code) => {
      df.respond((_req, res) =>
        res.writeHead(upstreamStatus, { 'content-type': 'application/json' }).end(LEAKY),
      );
      const { client } = helper();
      const app = express();
      app.get('/orders', (_req, res, next) => {
        client.getRecords('db', 'orders').then((rows) => res.json(rows), next);
      });
      app.use(identityErrorHandler());
      const res = await (await serve(app)).get('/orders');
      expectRefusal(res, { status, code });
      expect((res.body as { message: string }).message).toMatch(/DreamFactory|data API/);
      expect(res.text).not.toMatch(/SQLSTATE|\/opt\/|Connection\.php/);
    },
  );

  test('positive control: a good read still returns its records', async () => {
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[{"id":3}]}'),
    );
    expect(await helper().client.getRecords('db', 'orders')).toEqual([{ id: 3 }]);
  });

  test('a body that is not JSON is upstream_error, not a SyntaxError', async () => {
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>'),
    );
    await expect(helper().client.getRecords('db', 'orders')).rejects.toMatchObject({
      code: 'upstream_error',
    });
  });
});

describe('option "baseUrl"', () => {
  function clientAt(baseUrl: string) {
    const passthrough = createPassthrough({
      upstreams: { df: { origin: df.origin, audience: 'dreamfactory-api' } },
      audit: createMemoryAuditSink(),
    });
    return dreamFactory({ fetch: passthrough.forIdentity(alice) }, { baseUrl });
  }

  beforeEach(() => {
    df.received.length = 0;
    df.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[]}'),
    );
  });

  test.each([
    ['/gateway/df/', '/gateway/df/api/v2/db/_table/orders'],
    ['/gateway/df', '/gateway/df/api/v2/db/_table/orders'],
    ['', '/api/v2/db/_table/orders'],
    ['/', '/api/v2/db/_table/orders'],
  ])('a base path %j is kept: %s', async (prefix, path) => {
    await clientAt(`${df.origin}${prefix}`).getRecords('db', 'orders', { limit: 1 });
    expect(df.received.map((req) => req.url)).toEqual([`${path}?limit=1`]);
  });

  test.each([
    ['not a url', /option "baseUrl" must be an absolute http\(s\) URL/],
    ['ftp://df.example.com', /option "baseUrl" must be an absolute http\(s\) URL/],
    ['https://df.example.com/df?x=1', /option "baseUrl" must not have a query or a fragment/],
    ['https://df.example.com/df#x', /option "baseUrl" must not have a query or a fragment/],
  ])('%j is refused at startup', (baseUrl, message) => {
    expect(() => clientAt(baseUrl)).toThrow(TypeError);
    expect(() => clientAt(baseUrl)).toThrow(message);
  });
});
