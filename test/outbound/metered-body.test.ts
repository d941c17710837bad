import express from 'express';
import {
  createMemoryAuditSink,
  createPassthrough,
  dreamFactory,
  identityErrorHandler,
  isIdentityError,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { closeServers, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { refusal } from '../helpers/refusal.js';
import { alice, trickle } from './outbound-fixtures.js';

// Bodies that do not end well: still streaming at the timeout, or larger than allowed. Every
// way of reading them ends with the package's own error, and the audit event says so.
let upstream: RecordingUpstream;
let audit: MemoryAuditSink;
beforeAll(async () => {
  upstream = await createRecordingUpstream();
});
afterAll(async () => {
  await closeServers();
  await upstream.close();
});
beforeEach(() => {
  audit = createMemoryAuditSink();
  upstream.received.length = 0;
});

const TIMEOUT_MS = 300;

function passthrough(timeoutMs = TIMEOUT_MS) {
  return createPassthrough({
    upstreams: {
      df: {
        origin: upstream.origin,
        audience: 'dreamfactory-api',
        timeoutMs,
        maxResponseBytes: 1_024,
      },
    },
    audit,
  });
}

async function readRaw(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  // Bounded: a body of a few hundred chunks at most.
  for (let i = 0; i < 10_000; i++) {
    const chunk = await reader.read();
    if (chunk.done) return text;
    text += Buffer.from(chunk.value).toString('utf8');
  }
  throw new Error('the body never ended');
}

const readers: [string, (res: Response) => Promise<unknown>][] = [
  ['.json()', (res) => res.json()],
  ['.text()', (res) => res.text()],
  ['the raw stream', readRaw],
];

/** Waits until the event of the call is in (it is recorded when the body ends). */
async function lastEvent() {
  for (let i = 0; i < 50 && audit.events.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return audit.events.at(-1);
}

describe('a body still streaming at timeoutMs', () => {
  test.each(readers)(
    'read with %s: 504 upstream_timeout, audited as an error',
    async (_l, read) => {
      upstream.respond((_req, res) => trickle(res, { chunks: 40, everyMs: 50 }));
      const res = await passthrough().forIdentity(alice())(`${upstream.origin}/slow`);
      expect(res.status).toBe(200);
      const error = await refusal(read(res));
      expect(error).toMatchObject({ code: 'upstream_timeout', status: 504, expose: false });
      expect(error.message).toMatch(/did not .* in time/);
      expect(await lastEvent()).toMatchObject({
        action: 'forward',
        outcome: 'error',
        reason: 'upstream_timeout',
        status: 504,
        upstream_status: 200,
        records_returned: null,
      });
      expect(audit.events).toHaveLength(1);
    },
  );

  test('positive control: a slow body that ends in time is read whole and audited as ok', async () => {
    // 200 ms of trickling within a 3 s timeout: slow, but in time even on a loaded machine.
    upstream.respond((_req, res) => trickle(res, { chunks: 4, everyMs: 50 }));
    const res = await passthrough(3_000).forIdentity(alice())(`${upstream.origin}/slow-but-ok`);
    expect(await res.json()).toEqual([0, 1, 2, 3]);
    expect(await lastEvent()).toMatchObject({
      outcome: 'allowed',
      reason: 'ok',
      status: null,
      records_returned: 4,
    });
  });
});

describe('a small body of declared length (read whole before the response is handed over)', () => {
  test('its records are counted and its event written before the caller reads a byte', async () => {
    upstream.respond((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-length': 7 })
        .end('[1,2,3]'),
    );
    const res = await passthrough().forIdentity(alice())(`${upstream.origin}/small`);
    expect(audit.events.at(-1)).toMatchObject({ records_returned: 3, outcome: 'allowed' });
    expect(res.headers.get('content-length')).toBe('7');
    expect(await res.json()).toEqual([1, 2, 3]);
    expect(audit.events).toHaveLength(1);
  });

  test('stalled halfway, the call itself fails with upstream_timeout, audited once', async () => {
    upstream.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 20 });
      res.write('[1,2,');
    });
    const error = await refusal(passthrough().forIdentity(alice())(`${upstream.origin}/stalled`));
    expect(error).toMatchObject({ code: 'upstream_timeout', status: 504 });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ reason: 'upstream_timeout', upstream_status: 200 });
  });

  test('cut short by the upstream, the call fails with upstream_unavailable', async () => {
    upstream.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 20 });
      res.write('[1,2,');
      setTimeout(() => res.destroy(), 20);
    });
    const error = await refusal(passthrough().forIdentity(alice())(`${upstream.origin}/cut`));
    expect(error).toMatchObject({ code: 'upstream_unavailable', status: 502 });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ outcome: 'error', records_returned: null });
  });
});

describe('a body larger than maxResponseBytes (not declared)', () => {
  const big = () =>
    upstream.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      for (let i = 0; i < 600; i++) res.write(`${i},`);
      res.end('0]');
    });

  test.each(readers)(
    'read with %s: 502 upstream_response_too_large, audited so',
    async (_l, read) => {
      big();
      const res = await passthrough().forIdentity(alice())(`${upstream.origin}/big`);
      const error = await refusal(read(res));
      expect(error).toMatchObject({ code: 'upstream_response_too_large', status: 502 });
      expect(await lastEvent()).toMatchObject({
        outcome: 'error',
        reason: 'upstream_response_too_large',
        status: 502,
        upstream_status: 200,
        records_returned: null,
      });
    },
  );

  test('positive control: a body just under the limit is read whole', async () => {
    upstream.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(`[${'1,'.repeat(500)}1]`),
    );
    const res = await passthrough().forIdentity(alice())(`${upstream.origin}/fits`);
    expect(await res.json()).toHaveLength(501);
    expect(await lastEvent()).toMatchObject({ outcome: 'allowed', reason: 'ok' });
  });
});

describe('through the DreamFactory helper behind Express', () => {
  async function agent() {
    const df = dreamFactory(
      { fetch: passthrough().forIdentity(alice()) },
      { baseUrl: upstream.origin },
    );
    const app = express();
    app.get('/orders', (_req, res, next) => {
      df.getRecords('db', 'orders').then((rows) => res.json(rows), next);
    });
    app.use(identityErrorHandler());
    return serve(app);
  }

  test.each([
    [
      'still streaming at the timeout',
      504,
      'upstream_timeout',
      () => upstream.respond((_req, res) => trickle(res, { chunks: 40, everyMs: 50 })),
    ],
    [
      'larger than allowed',
      502,
      'upstream_response_too_large',
      () =>
        upstream.respond((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"resource":[');
          for (let i = 0; i < 600; i++) res.write(`${i},`);
          res.end('0]}');
        }),
    ],
  ] as const)(
    'a body %s: the client gets the JSON error, no stack trace',
    async (_l, status, code, setup) => {
      setup();
      const res = await (await agent()).get('/orders');
      expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({
        status,
        code,
      });
      expect(res.headers['content-type']).toMatch(/json/);
      expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+|TimeoutError|SyntaxError|AbortError/);
    },
  );

  test('positive control: a slow body that ends in time gives the records', async () => {
    upstream.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[{"id":1}]}'),
    );
    const res = await (await agent()).get('/orders');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([{ id: 1 }]);
  });
});

test('isIdentityError holds for what the raw reader rejects with', async () => {
  upstream.respond((_req, res) => trickle(res, { chunks: 40, everyMs: 50 }));
  const res = await passthrough().forIdentity(alice())(`${upstream.origin}/slow`);
  const caught = await readRaw(res).catch((error: unknown) => error);
  expect(isIdentityError(caught)).toBe(true);
});
