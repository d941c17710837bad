import express from 'express';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  identityErrorHandler,
  requireUser,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { runInRequestScope } from '../../lib/core/request-context.js';
import { closeServers, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';
import { alice, USER_TOKEN } from './outbound-fixtures.js';

let upstream: RecordingUpstream;
let audit: MemoryAuditSink;
beforeAll(async () => {
  upstream = await createRecordingUpstream();
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(() => {
  audit = createMemoryAuditSink();
  upstream.received.length = 0;
  upstream.respond((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('[]'),
  );
});

function passthrough() {
  return createPassthrough({
    upstreams: {
      df: {
        origin: upstream.origin,
        audience: 'dreamfactory-api',
        credentialHeader: 'X-DreamFactory-Session-Token',
        headers: { 'X-DreamFactory-API-Key': 'app-key' },
      },
    },
    audit,
  });
}

async function send(headers: Record<string, string>) {
  const res = await passthrough().forIdentity(alice())(`${upstream.origin}/x`, { headers });
  await res.text();
  expect(upstream.received).toHaveLength(1);
  return upstream.received[0]!.headers;
}

describe('agent-supplied headers', () => {
  test.each([
    'api-key',
    'apikey',
    'x-api-key',
    'x-auth-token',
    'x-access-token',
    'forwarded',
    'x-forwarded-for',
    'x-forwarded-host',
    'x-forwarded-proto',
    'X-Forwarded-Prefix',
    'x-real-ip',
    'proxy-authorization',
    'cookie',
    'x-dreamfactory-session-token',
    'x-dreamfactory-api-key',
  ])('%s is dropped', async (name) => {
    const received = await send({ [name]: 'agent-chosen', 'x-note': 'kept' });
    expect(received[name.toLowerCase()]).not.toBe('agent-chosen');
    // Positive control: an ordinary header of the same call goes through.
    expect(received['x-note']).toBe('kept');
  });

  test('the configured credential and app key still arrive', async () => {
    const received = await send({ accept: 'application/json' });
    expect(received['x-dreamfactory-session-token']).toBe(USER_TOKEN);
    expect(received['x-dreamfactory-api-key']).toBe('app-key');
    expect(received['accept']).toBe('application/json');
  });
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function traceOf(headers: Record<string, unknown>) {
  const match = TRACEPARENT.exec(String(headers['traceparent']));
  expect(match).not.toBeNull();
  const [, traceId, parentId, flags] = match!;
  expect(traceId).not.toMatch(/^0+$/);
  expect(parentId).not.toMatch(/^0+$/);
  return { traceId: traceId!, parentId: parentId!, flags: flags! };
}

describe('X-Request-Id and traceparent', () => {
  const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  test('outside a request: a new id, the one in the audit event, and a new trace', async () => {
    const received = await send({});
    expect(received['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(audit.events[0]?.request_id).toBe(received['x-request-id']);
    traceOf(received);
  });

  test('in a request: its id, and its trace continued with a span of our own', async () => {
    const identity = alice();
    await runInRequestScope({ identity, requestId: 'req-42', traceparent: INCOMING }, async () => {
      const res = await passthrough().fetch(`${upstream.origin}/x`);
      await res.text();
    });
    const received = upstream.received[0]!.headers;
    expect(received['x-request-id']).toBe('req-42');
    expect(traceOf(received)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: expect.not.stringMatching(/^00f067aa0ba902b7$/),
      flags: '01',
    });
    expect(audit.events[0]).toMatchObject({ request_id: 'req-42' });
  });

  test('every call of one request is in the same trace, each with its own span', async () => {
    const identity = alice();
    await runInRequestScope({ identity, requestId: 'req-43' }, async () => {
      for (let i = 0; i < 2; i++) await (await passthrough().fetch(`${upstream.origin}/x`)).text();
    });
    const [first, second] = upstream.received.map((req) => traceOf(req.headers));
    expect(first!.traceId).toBe(second!.traceId);
    expect(first!.parentId).not.toBe(second!.parentId);
  });

  test.each([
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['upper case', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['a long parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7a-01'],
    ['version 00 with a suffix', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x'],
    ['odd flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1'],
  ])(
    'an invalid incoming traceparent (%s) is never forwarded: a new trace starts',
    async (_label, invalid) => {
      await runInRequestScope(
        { identity: alice(), requestId: 'req-44', traceparent: invalid },
        async () => {
          await (await passthrough().fetch(`${upstream.origin}/x`)).text();
        },
      );
      const received = upstream.received[0]!.headers;
      expect(received['traceparent']).not.toBe(invalid);
      expect(traceOf(received).traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    },
  );

  test('a future version is continued as version 00 (W3C: parse what version 00 defines)', async () => {
    await runInRequestScope(
      {
        identity: alice(),
        requestId: 'req-45',
        traceparent: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next',
      },
      async () => {
        await (await passthrough().fetch(`${upstream.origin}/x`)).text();
      },
    );
    expect(traceOf(upstream.received[0]!.headers).traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  test("the agent's own X-Request-Id, traceparent and tracestate do not override the package's", async () => {
    await runInRequestScope(
      { identity: alice(), requestId: 'req-46', traceparent: INCOMING },
      async () => {
        const res = await passthrough().fetch(`${upstream.origin}/x`, {
          headers: {
            'X-Request-Id': 'forged',
            traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
            tracestate: 'evil=1',
          },
        });
        await res.text();
      },
    );
    const received = upstream.received[0]!;
    expect(received.headers['x-request-id']).toBe('req-46');
    expect(traceOf(received.headers).traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(received.headers['tracestate']).toBeUndefined();
    // One of each, not the agent's beside ours.
    const names = received.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n === 'x-request-id' || n === 'traceparent')).toHaveLength(2);
  });
});

describe('behind authenticate(): a gateway can join its logs to ours', () => {
  let idp: TestIssuer;
  beforeAll(async () => {
    idp = await createTestIssuer();
  });
  afterAll(async () => {
    await closeServers();
    await idp.close();
  });

  test("the incoming traceparent's trace goes on upstream; the response's X-Request-Id is the one sent", async () => {
    const client = passthrough();
    const app = express();
    app.use(
      authenticate({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri, audit }),
    );
    app.get('/ai', requireUser(), (_req, res, next) => {
      client
        .fetch(`${upstream.origin}/x`)
        .then((r) => r.json())
        .then((data) => res.json(data), next);
    });
    app.use(identityErrorHandler());
    const token = await idp.sign({ aud: [TEST_AUDIENCE, 'dreamfactory-api'] });
    const res = await (
      await serve(app)
    )
      .get('/ai')
      .set('Authorization', `Bearer ${token}`)
      .set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(res.status).toBe(200);
    const sent = upstream.received[0]!.headers;
    expect(sent['x-request-id']).toBe(res.headers['x-request-id']);
    expect(traceOf(sent).traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });
});
