import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import type winston from 'winston';
import Transport from 'winston-transport';
import {
  createConsoleAuditSink,
  createWinstonAuditSink,
  type AuditEvent,
  type AuditSink,
} from '../../lib/index.js';
import { createPinoAuditSink } from '../../examples/pino-audit-sink.js';
import { buildApp } from '../helpers/app.js';
import { waitForJsonLines } from '../helpers/files.js';
import { closeServers, expectRefusal, serve } from '../helpers/http.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

let idp: TestIssuer;
let dir: string;
beforeAll(async () => {
  idp = await createTestIssuer();
  dir = mkdtempSync(join(tmpdir(), 'eip-audit-'));
});
afterAll(async () => {
  await closeServers();
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

const options = () => ({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri });

/** The test app with a fail-closed audit trail on `sink` (failures not printed). */
function failClosedAgent(sink: AuditSink) {
  return serve(
    buildApp(express, {
      ...options(),
      audit: sink,
      auditFailurePolicy: 'fail-closed',
      onAuditFailure: () => undefined,
    }),
  );
}

/** A winston transport that fails every write, as a full disk or a dead log shipper does. */
class BrokenTransport extends Transport {
  // winston's typings name the transport class through their own declaration of it.
  static create(): winston.transport {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    return new BrokenTransport();
  }

  override log(_info: unknown, callback: () => void): void {
    this.emit('error', new Error('disk full'));
    callback();
  }
}

/** A transport that fails while `failing` is set, and logs (and says so) otherwise. */
class FlakyTransport extends Transport {
  failing = true;
  static create(): FlakyTransport & winston.transport {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    return new FlakyTransport();
  }
  override log(info: unknown, callback: () => void): void {
    if (this.failing) this.emit('error', new Error('log shipper down'));
    else this.emit('logged', info);
    callback();
  }
}

/** A transport that accepts writes and never finishes them: a hung log shipper. */
class StuckTransport extends Transport {
  static create(): winston.transport {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    return new StuckTransport();
  }
  override log(): void {
    // never calls back
  }
}

describe('winston sink (the default)', () => {
  test('a transport that falls behind is not buffered without bound: overflow is refused and reported', () => {
    const sink = createWinstonAuditSink({
      transports: [StuckTransport.create()],
      maxQueuedEvents: 20,
    });
    const event = { action: 'authorize' } as unknown as AuditEvent;
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      try {
        sink.log(event);
      } catch (error) {
        refused += 1;
        expect((error as Error).message).toMatch(/audit sink overloaded/);
      }
    }
    expect(refused).toBeGreaterThanOrEqual(60);
    expect(sink.logger.writableLength + sink.logger.readableLength).toBeLessThanOrEqual(40);
  });

  test('fail-closed refuses while the transport fails, and recovers when it logs again', async () => {
    const transport = FlakyTransport.create();
    const sink = createWinstonAuditSink({ transports: [transport] });
    const agent = await failClosedAgent(sink);
    const token = await idp.sign();
    expectRefusal(await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`), {
      status: 503,
      code: 'audit_unavailable',
    });
    transport.failing = false;
    // The first write after recovery clears the failure; from then on requests pass.
    await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`);
    expect((await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect(sink.failure).toBeUndefined();
  });

  test('the audit file alone is written without winston in between, and its lines are the same as through winston', () => {
    const direct = join(dir, 'direct.log');
    const through = join(dir, 'through.log');
    // A second transport keeps winston in between for the other file.
    const other = new (class extends Transport {
      override log(_info: unknown, next: () => void) {
        next();
      }
    })();
    const sinks = [
      createWinstonAuditSink({ filename: direct }),
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
      createWinstonAuditSink({ filename: through, transports: [other] }),
    ];
    const event = {
      timestamp: '2026-01-01T00:00:00.000Z',
      user: 'alice\u2028',
      action: 'authorize',
      details: { required: ['a"b'] },
    } as unknown as AuditEvent;
    for (const sink of sinks) {
      sink.log(event);
      sink.flush?.();
    }
    const lines = readFileSync(direct, 'utf8');
    expect(JSON.parse(lines)).toEqual({ level: 'info', message: 'audit', ...event });
    expect(lines).toBe(readFileSync(through, 'utf8'));
    // Positive control: through winston, the other transport does see the event.
    expect(sinks[1]?.logger.transports).toHaveLength(2);
  });

  test('writes one JSON line per decision to a file', async () => {
    const file = join(dir, 'audit.log');
    const agent = await serve(
      buildApp(express, { ...options(), audit: createWinstonAuditSink({ filename: file }) }),
    );
    await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    await agent.post('/ai/chat');
    const lines = await waitForJsonLines(file, 2);
    expect(
      lines.map((line) => [line['level'], line['action'], line['outcome'], line['user']]),
    ).toEqual([
      ['info', 'authorize', 'allowed', 'alice'],
      ['info', 'authenticate', 'denied', null],
    ]);
  });

  test('a file gets every event in the order logged, those of one loop turn and those of many', async () => {
    const file = join(dir, 'batched.log');
    const sink = createWinstonAuditSink({ filename: file });
    const event = (n: number) => ({ action: 'authorize', request_id: `req-${n}` }) as AuditEvent;
    // A burst in one turn (written together when the turn ends), then one event per turn.
    for (let n = 0; n < 500; n++) sink.log(event(n));
    for (let n = 500; n < 1_000; n++) {
      await new Promise((resolve) => setImmediate(resolve));
      sink.log(event(n));
    }
    const lines = await waitForJsonLines(file, 1_000);
    expect(lines).toHaveLength(1_000);
    expect(lines.map((line) => line['request_id'])).toEqual(
      Array.from({ length: 1_000 }, (_, n) => `req-${n}`),
    );
    expect(
      lines.filter((line) => line['level'] !== 'info' || line['action'] !== 'authorize'),
    ).toEqual([]);
    expect(sink.failure).toBeUndefined();
  });

  test('the events of one loop turn are written together, as soon as the turn is over', async () => {
    const file = join(dir, 'one-write.log');
    const sink = createWinstonAuditSink({ filename: file });
    sink.log({ action: 'authorize', request_id: 'first' } as AuditEvent);
    await new Promise((resolve) => setImmediate(resolve));
    // Written synchronously at the end of the turn: no thread pool to wait for.
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(2);
    for (let n = 0; n < 500; n++) {
      sink.log({ action: 'authorize', request_id: `burst-${n}` } as AuditEvent);
    }
    // Nothing of the burst is written event by event...
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(2);
    await new Promise((resolve) => setImmediate(resolve));
    // ...and all of it is there once the turn is over.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(501);
    expect((JSON.parse(lines[500] ?? '{}') as AuditEvent).request_id).toBe('burst-499');
  });

  test('events logged just before the process exits still reach the file', () => {
    const file = join(dir, 'exit.log');
    const sinkModule = join(process.cwd(), 'lib', 'index.ts');
    const script = `
      import { createWinstonAuditSink } from ${JSON.stringify(sinkModule)};
      const sink = createWinstonAuditSink({ filename: ${JSON.stringify(file)} });
      for (let n = 0; n < 3; n++) sink.log({ action: 'authorize', request_id: 'before-exit-' + n });
      process.exit(0);
    `;
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(run.status).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as AuditEvent).request_id)).toEqual([
      'before-exit-0',
      'before-exit-1',
      'before-exit-2',
    ]);
  });

  test('a file that fails to take a write makes the sink refuse events, and keeps nothing of them', async () => {
    // /dev/full answers every write with ENOSPC, as a full disk does.
    const sink = createWinstonAuditSink({ filename: '/dev/full', maxQueuedEvents: 50 });
    sink.log({ action: 'authorize', request_id: 'lost-1' } as AuditEvent);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.failure?.message).toMatch(/^ENOSPC/);
    for (let turn = 0; turn < 3; turn++) {
      expect(() => {
        sink.log({ action: 'authorize', request_id: `refused-${turn}` } as AuditEvent);
      }).toThrow(/ENOSPC/);
      await new Promise((resolve) => setImmediate(resolve));
      expect(sink.failure?.message).toMatch(/^ENOSPC/);
    }
    // Events arriving while the file fails are refused and reported, not held: nothing of them
    // piles up in memory, and nothing of them appears in the file later.
    const refusals: string[] = [];
    for (let n = 0; n < 100; n++) {
      try {
        sink.log({ action: 'authorize', request_id: `flood-${n}` } as AuditEvent);
      } catch (error) {
        refusals.push((error as Error).message);
      }
    }
    expect(refusals).toHaveLength(100);
    expect(refusals.every((message) => message.startsWith('ENOSPC'))).toBe(true);
    expect(sink.logger.writableLength + sink.logger.readableLength).toBe(0);
  });

  test.each([
    ['a directory', () => dir, /EISDIR/],
    [
      'a path under a regular file',
      () => {
        const plain = join(dir, 'plain.txt');
        writeFileSync(plain, '');
        return join(plain, 'audit.log');
      },
      /ENOTDIR/,
    ],
  ])(
    'a file sink on %s fails at startup, naming the option and the reason',
    (_where, filename, reason) => {
      const path = filename();
      expect(() => createWinstonAuditSink({ filename: path })).toThrow(/option "filename"/);
      expect(() => createWinstonAuditSink({ filename: path })).toThrow(reason);
    },
  );

  test('fail-open: a broken transport is reported with the event, and the request goes on', async () => {
    const reported: AuditEvent[] = [];
    const sink = createWinstonAuditSink({ transports: [BrokenTransport.create()] });
    const agent = await serve(
      buildApp(express, {
        ...options(),
        audit: sink,
        onAuditFailure: (_error, event) => reported.push(event),
      }),
    );
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.status).toBe(200);
    expect(reported.map((event) => event.action)).toEqual(['authorize']);
    expect(sink.failure?.message).toBe('disk full');
  });

  test('fail-closed: a broken transport refuses the request with 503 audit_unavailable', async () => {
    const sink = createWinstonAuditSink({ transports: [BrokenTransport.create()] });
    const agent = await failClosedAgent(sink);
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    expectRefusal(res, { status: 503, code: 'audit_unavailable' });
  });

  test('fail-closed with a healthy sink waits for it and lets the request through', async () => {
    const written: AuditEvent[] = [];
    const slow: AuditSink = {
      log: (event) =>
        new Promise((resolve) => setTimeout(() => resolve(void written.push(event)), 20)),
    };
    const agent = await serve(
      buildApp(express, { ...options(), audit: slow, auditFailurePolicy: 'fail-closed' }),
    );
    const res = await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    expect(res.status).toBe(200);
    expect(written.map((event) => event.action)).toEqual(['authenticate', 'authorize']);
  });

  test('a failure handler that throws does not break the request or the process', async () => {
    const agent = await serve(
      buildApp(express, {
        ...options(),
        audit: { log: () => Promise.reject(new Error('down')) },
        onAuditFailure: () => {
          throw new Error('handler bug');
        },
      }),
    );
    expect(
      (await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`)).status,
    ).toBe(200);
  });
});

describe('other sinks', () => {
  function collector(): { stream: Writable; lines: () => Record<string, unknown>[] } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    });
    return {
      stream,
      lines: () =>
        chunks
          .join('')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>),
    };
  }

  test('the console sink writes JSON lines to the stream it is given', async () => {
    const out = collector();
    const agent = await serve(
      buildApp(express, { ...options(), audit: createConsoleAuditSink(out.stream) }),
    );
    await agent.get('/me');
    expect(out.lines()).toEqual([
      expect.objectContaining({ action: 'authenticate', reason: 'credentials_missing' }),
    ]);
  });

  test('the pino example sink logs each event through the application logger', async () => {
    const out = collector();
    const logger = pino({ base: null, timestamp: false }, out.stream);
    const agent = await serve(
      buildApp(express, { ...options(), audit: createPinoAuditSink(logger) }),
    );
    await agent.post('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      out.lines().map((line) => [line['channel'], line['msg'], line['action'], line['user']]),
    ).toEqual([['audit', 'audit', 'authorize', 'alice']]);
  });
});
