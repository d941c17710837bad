import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import {
  authenticate,
  createPassthrough,
  createWinstonAuditSink,
  identityErrorHandler,
  requireUser,
  type AuditEvent,
  type AuditSink,
} from '../../lib/index.js';
import { AuditFileTransport } from '../../lib/audit/audit-file-transport.js';
import { createAuditTrail, recordAuditEvent } from '../../lib/audit/auditor.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { refusal } from '../helpers/refusal.js';
import { alice } from '../outbound/outbound-fixtures.js';
import { TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';

// /dev/full opens for appending and fails every write with ENOSPC: an audit file on a disk that
// has just filled up. The sink cannot know until it writes.
const FULL = '/dev/full';
const describeWithFull = existsSync(FULL) ? describe : describe.skip;

let upstream: RecordingUpstream;
let dir: string;
beforeAll(async () => {
  upstream = await createRecordingUpstream();
  dir = mkdtempSync(join(tmpdir(), 'eip-auditor-'));
});
afterAll(async () => {
  await closeServers();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  upstream.received.length = 0;
  upstream.respond((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[]}'),
  );
});

function passthroughWith(
  filename: string,
  policy: 'fail-open' | 'fail-closed',
  reported: unknown[] = [],
) {
  return createPassthrough({
    upstreams: { df: { origin: upstream.origin, audience: 'dreamfactory-api' } },
    audit: createWinstonAuditSink({ filename }),
    auditFailurePolicy: policy,
    onAuditFailure: (error) => reported.push(error),
  });
}

const write = { method: 'POST', body: '{"resource":[{"item":"x"}]}' };

describeWithFull('fail-closed: the event is on disk before the request leaves', () => {
  test('the first write to a file that has started failing: 503 audit_unavailable, nothing sent', async () => {
    const passthrough = passthroughWith(FULL, 'fail-closed');
    const error = await refusal(
      passthrough.forIdentity(alice())(`${upstream.origin}/api/v2/db/_table/orders`, write),
    );
    expect(error).toMatchObject({ code: 'audit_unavailable', status: 503 });
    // The upstream gets every chance to receive a request that went out.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(upstream.received).toHaveLength(0);
  });

  test('behind Express, the client gets a 503 that names the audit trail, not the identity provider', async () => {
    const passthrough = passthroughWith(FULL, 'fail-closed');
    const app = express();
    app.post('/ai/orders', (_req, res, next) => {
      passthrough
        .forIdentity(alice())(`${upstream.origin}/api/v2/db/_table/orders`, write)
        .then((r) => r.json())
        .then((data) => res.json(data), next);
    });
    app.use(identityErrorHandler());
    const res = await (await serve(app)).post('/ai/orders');
    expectRefusal(res, { status: 503, code: 'audit_unavailable' });
    const message = (res.body as { message: string }).message;
    expect(message).not.toMatch(/identity provider/i);
    expect(message).toMatch(/audit/i);
    expect(upstream.received).toHaveLength(0);
  });

  test('positive control: with a healthy file the call goes out, after its intent is on disk', async () => {
    const file = join(dir, 'healthy.log');
    const onArrival: string[] = [];
    upstream.respond((_req, res) => {
      onArrival.push(readFileSync(file, 'utf8'));
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"resource":[{"id":9}]}');
    });
    const passthrough = passthroughWith(file, 'fail-closed');
    const res = await passthrough.forIdentity(alice())(
      `${upstream.origin}/api/v2/db/_table/orders`,
      write,
    );
    expect(await res.json()).toEqual({ resource: [{ id: 9 }] });
    expect(upstream.received).toHaveLength(1);
    const lines = onArrival[0]!
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(lines).toEqual([
      expect.objectContaining({
        action: 'forward',
        reason: 'intent',
        resource: `POST ${upstream.origin}/api/v2/db/_table/orders`,
      }),
    ]);
    // And the result, once the body is read, before the caller has it.
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(2);
  });
});

describeWithFull('fail-open keeps its batching', () => {
  test('calls go through a failing file; once the failure is known, events are reported', async () => {
    const reported: unknown[] = [];
    const passthrough = passthroughWith(FULL, 'fail-open', reported);
    for (let i = 0; i < 2; i++) {
      const res = await passthrough.forIdentity(alice())(`${upstream.origin}/x`, write);
      expect(await res.json()).toEqual({ resource: [] });
      // The batch of this turn is written (and fails) when the turn ends.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(upstream.received).toHaveLength(2);
    expect(reported).toEqual([expect.objectContaining({ code: 'ENOSPC' })]);
  });
});

describe('recordAuditEvent and the file transport', () => {
  const event = (id: string) => ({ action: 'forward', request_id: id }) as unknown as AuditEvent;
  const transportOf = (sink: ReturnType<typeof createWinstonAuditSink>) =>
    sink.logger.transports.find((t) => t instanceof AuditFileTransport) as AuditFileTransport;

  test('fail-open: events wait for the end of the loop turn, written together', async () => {
    const file = join(dir, 'open.log');
    const sink = createWinstonAuditSink({ filename: file });
    const trail = createAuditTrail(sink, 'fail-open');
    expect(recordAuditEvent(trail, event('a'))).toBeUndefined();
    expect(recordAuditEvent(trail, event('b'))).toBeUndefined();
    expect(transportOf(sink).pending).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('');
    await new Promise((resolve) => setImmediate(resolve));
    expect(readFileSync(file, 'utf8').trimEnd().split('\n')).toHaveLength(2);
  });

  test('fail-closed: the event is in the file when the promise settles', async () => {
    const file = join(dir, 'closed.log');
    const sink = createWinstonAuditSink({ filename: file });
    const trail = createAuditTrail(sink, 'fail-closed');
    await recordAuditEvent(trail, event('c'));
    expect(transportOf(sink).pending).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('"request_id":"c"');
  });
});

// A sink written in JavaScript returns whatever its logger returns; none of it may crash the
// process or change the answer a client gets.
describe('an audit sink whose log() returns something that is not a promise', () => {
  const idp = useTestIssuer();
  // What `{ log: (e) => logger.info(e) }` hands back from winston, pino or console wrappers.
  const RETURNS: readonly (readonly [string, () => unknown])[] = [
    ['the logger itself', () => ({ info: () => undefined, level: 'info' })],
    ['true', () => true],
    ['a number', () => 1],
    ['null', () => null],
    ['a function', () => () => undefined],
    ['an object whose then is not a function', () => ({ then: 'soon' })],
  ];

  async function backendWith(log: () => unknown, policy?: 'fail-closed') {
    const seen: AuditEvent[] = [];
    const failures: unknown[] = [];
    const sink = {
      log: (event: AuditEvent) => {
        seen.push(event);
        return log();
      },
    } as unknown as AuditSink;
    const app = express();
    app.use(
      authenticate({
        issuer: idp.issuer,
        audience: TEST_AUDIENCE,
        jwksUri: idp.jwksUri,
        audit: sink,
        ...(policy === undefined ? {} : { auditFailurePolicy: policy }),
        onAuditFailure: (error) => failures.push(error),
      }),
    );
    app.get('/ai', requireUser(), (_req, res) => res.json({ ok: true }));
    app.use(identityErrorHandler());
    return { agent: await serve(app), seen, failures };
  }

  describe.each([['fail-open'], ['fail-closed']] as const)('%s', (policy) => {
    test.each(RETURNS)('returning %s: refusals and successes answer as usual', async (_l, log) => {
      const { agent, seen, failures } = await backendWith(
        log,
        policy === 'fail-closed' ? policy : undefined,
      );
      const expired = await idp.sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 });
      expectRefusal(await agent.get('/ai').set('Authorization', `Bearer ${expired}`), {
        status: 401,
        code: 'token_expired',
        bearerError: 'invalid_token',
      });
      expectRefusal(await agent.get('/ai'), {
        status: 401,
        code: 'credentials_missing',
        bearerError: null,
      });
      const good = await idp.sign({ sub: 'alice' });
      expect((await agent.get('/ai').set('Authorization', `Bearer ${good}`)).status).toBe(200);
      expect(seen.map((event) => [event.action, event.outcome])).toEqual([
        ['authenticate', 'denied'],
        ['authenticate', 'denied'],
        // Under fail-closed the sign-in itself is recorded before the guard runs.
        ...(policy === 'fail-closed' ? [['authenticate', 'allowed']] : []),
        ['authorize', 'allowed'],
      ]);
      expect(failures).toEqual([]);
    });
  });

  test('a thenable that rejects is a failed write: fail-closed refuses with 503', async () => {
    const rejecting = () => ({
      then: (_ok: unknown, fail: (error: Error) => void) => fail(new Error('disk gone')),
    });
    const { agent, failures } = await backendWith(rejecting, 'fail-closed');
    const good = await idp.sign({ sub: 'alice' });
    expectRefusal(await agent.get('/ai').set('Authorization', `Bearer ${good}`), {
      status: 503,
      code: 'audit_unavailable',
    });
    expect(failures).toHaveLength(1);
  });

  test('a throwing sink under fail-open: the request goes on, the failure is reported', async () => {
    const { agent, failures } = await backendWith(() => {
      throw new Error('sink broke');
    });
    const good = await idp.sign({ sub: 'alice' });
    expect((await agent.get('/ai').set('Authorization', `Bearer ${good}`)).status).toBe(200);
    expect(failures).toHaveLength(1);
  });
});
