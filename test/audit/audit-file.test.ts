import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditFileTransport } from '../../lib/audit/audit-file-transport.js';
import { createAuditTrail, recordAuditEvent } from '../../lib/audit/auditor.js';
import { createWinstonAuditSink, verifyAuditTrail } from '../../lib/index.js';
import {
  chainOf,
  checkpointIndexes,
  event,
  fileTransportOf,
  keyPair,
  linesOf,
  sha256,
  turn,
  until,
  writeTrail,
} from './audit-trail-fixture.js';

const MESSAGE = Symbol.for('message');
const keys = keyPair('ES256');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'eip-audit-chain-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const verify = (...files: string[]) => verifyAuditTrail({ files, publicKey: keys.publicKey });

describe('chained lines', () => {
  test('each line records its seq and the SHA-256 of the line before; the first, prev null', async () => {
    const file = join(dir, 'chain.log');
    const lines = await writeTrail(file, keys.privateKey, { events: 5 });
    expect(lines).toHaveLength(6); // five events and the checkpoint
    expect(lines.map((line) => chainOf(line).seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(chainOf(lines[0]).prev).toBeNull();
    for (let index = 1; index < lines.length; index += 1) {
      expect(chainOf(lines[index]).prev).toBe(sha256(lines[index - 1] ?? ''));
    }
    // The event itself is untouched: the chain is one more field at the end.
    expect(JSON.parse(lines[0] ?? '{}')).toEqual({
      level: 'info',
      message: 'audit',
      action: 'authorize',
      outcome: 'allowed',
      request_id: 'e-0',
      chain: { seq: 1, prev: null },
    });
    expect((await verify(file)).ok).toBe(true);
  });

  test('without integrity, lines carry no chain (the default is unchanged)', async () => {
    const file = join(dir, 'plain.log');
    const sink = createWinstonAuditSink({ filename: file });
    sink.log(event('plain'));
    await turn();
    expect(JSON.parse(linesOf(file)[0] ?? '{}')).not.toHaveProperty('chain');
    await expect(sink.checkpoint()).rejects.toThrow(/no "integrity" option/);
  });

  test('a checkpoint is written every checkpointEvery events, without being asked', async () => {
    const file = join(dir, 'every.log');
    const sink = createWinstonAuditSink({
      filename: file,
      integrity: { key: keys.privateKey, checkpointEvery: 10 },
    });
    for (let n = 0; n < 25; n += 1) {
      sink.log(event(`n-${n}`));
      await turn();
    }
    await until(() => checkpointIndexes(linesOf(file)).length >= 2);
    fileTransportOf(sink).close();
    const report = await verify(file);
    expect(report.ok).toBe(true);
    expect(report.checkpointsVerified).toBeGreaterThanOrEqual(2);
  });

  test('and every checkpointIntervalMs while events arrive; none while idle', async () => {
    const file = join(dir, 'interval.log');
    const sink = createWinstonAuditSink({
      filename: file,
      integrity: { key: keys.privateKey, checkpointIntervalMs: 50 },
    });
    sink.log(event('timed'));
    await until(() => checkpointIndexes(linesOf(file)).length === 1);
    // Idle: several intervals pass, no new checkpoint.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(linesOf(file)).toHaveLength(2);
    fileTransportOf(sink).close();
  });
});

describe('restarts and rotation', () => {
  test('a sink opened again on the same file continues the chain from its last line', async () => {
    const file = join(dir, 'restart.log');
    const before = await writeTrail(file, keys.privateKey, { prefix: 'first' });
    const after = await writeTrail(file, keys.privateKey, { prefix: 'second' });
    const continued = after[before.length];
    expect(chainOf(continued)).toEqual({
      seq: before.length + 1,
      prev: sha256(before.at(-1) ?? ''),
    });
    expect(await verify(file)).toEqual(
      expect.objectContaining({ ok: true, linesChecked: after.length, checkpointsVerified: 2 }),
    );
  });

  test.each([
    ['ends with an unchained line', '{"action":"authorize"}\n', /carries no chain/],
    ['ends in the middle of a line', '{"action":"auth', /ends in the middle of a line/],
  ])('a file that %s is refused at startup, naming the option', (_what, content, reason) => {
    const file = join(dir, `bad-tail-${String(reason).length}.log`);
    appendFileSync(file, content);
    const open = () =>
      createWinstonAuditSink({ filename: file, integrity: { key: keys.privateKey } });
    expect(open).toThrow(/option "filename": cannot open/);
    expect(open).toThrow(reason);
    // Positive control: the same file is accepted without integrity.
    expect(() => createWinstonAuditSink({ filename: file })).not.toThrow();
  });

  test('reopenOnRotation: a file renamed away (logrotate) is followed by a new one, and the chain crosses', async () => {
    const file = join(dir, 'rotated.log');
    const sink = createWinstonAuditSink({
      filename: file,
      integrity: { key: keys.privateKey },
      reopenOnRotation: true,
      rotationCheckIntervalMs: 20,
    });
    for (let n = 0; n < 3; n += 1) sink.log(event(`before-${n}`));
    await sink.checkpoint();
    renameSync(file, `${file}.1`);
    await until(() => existsSync(file));
    for (let n = 0; n < 3; n += 1) sink.log(event(`after-${n}`));
    await sink.checkpoint();
    fileTransportOf(sink).close();
    const old = linesOf(`${file}.1`);
    const current = linesOf(file);
    expect(old.some((line) => line.includes('before-2'))).toBe(true);
    expect(current.some((line) => line.includes('after-0'))).toBe(true);
    expect(chainOf(current[0])).toEqual({ seq: old.length + 1, prev: sha256(old.at(-1) ?? '') });
    expect(await verify(`${file}.1`, file)).toEqual(
      expect.objectContaining({ ok: true, files: 2, linesChecked: old.length + current.length }),
    );
    // The new file alone verifies too (its first line is taken as it is)...
    expect((await verify(file)).ok).toBe(true);
    // ...but given in the wrong order, the files are not a trail.
    expect((await verify(file, `${file}.1`)).problem).toEqual(
      expect.objectContaining({
        kind: 'restarted',
        message: expect.stringMatching(/or the files are not given oldest first$/),
      }),
    );
  });

  test('without reopenOnRotation, events go on into the renamed file until reopen() is called', async () => {
    const file = join(dir, 'sighup.log');
    const sink = createWinstonAuditSink({ filename: file, integrity: { key: keys.privateKey } });
    sink.log(event('one'));
    await turn();
    renameSync(file, `${file}.1`);
    sink.log(event('two'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(file)).toBe(false);
    sink.reopen(); // what a SIGHUP handler or logrotate's postrotate does
    sink.log(event('three'));
    await sink.checkpoint();
    fileTransportOf(sink).close();
    expect(linesOf(`${file}.1`).map((line) => JSON.parse(line).request_id)).toEqual(['one', 'two']);
    expect(JSON.parse(linesOf(file)[0] ?? '{}').request_id).toBe('three');
    expect((await verify(`${file}.1`, file)).ok).toBe(true);
  });
});

describe('the guarantees of the audit file hold with integrity', () => {
  test('a write cut short by a full disk is completed later: the chain has no gap and no repeat', async () => {
    const file = join(dir, 'disk-full.log');
    let mode: 'ok' | 'short' | 'full' = 'short';
    const failures: unknown[] = [];
    let successes = 0;
    const transport = new AuditFileTransport(file, {
      onFailure: (error) => failures.push(error),
      onSuccess: () => (successes += 1),
      write: (fd, bytes, offset) => {
        if (mode === 'full') throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
        if (mode === 'short') {
          mode = 'full';
          return writeSync(fd, bytes, offset, 30);
        }
        return writeSync(fd, bytes, offset);
      },
      integrity: {
        key: { key: keys.privateKey, algorithm: 'ES256' },
        // A checkpoint is due during the failure: it waits for the file, without retrying it.
        checkpointEvery: 2,
        checkpointIntervalMs: 60_000,
        fields: 'gateway',
        now: Date.now,
      },
    });
    const log = (id: string) => {
      transport.log({ [MESSAGE]: JSON.stringify({ request_id: id }) }, () => undefined);
    };
    for (const id of ['a', 'b', 'c']) log(id);
    await turn();
    expect(failures).toHaveLength(1);
    log('refused while failing');
    mode = 'ok';
    await until(() => successes > 0);
    log('d');
    await transport.checkpoint();
    transport.close();
    const lines = linesOf(file);
    expect(lines.map((line) => JSON.parse(line).request_id)).toEqual([
      'a',
      'b',
      'c',
      'd',
      undefined,
    ]);
    expect((await verify(file)).ok).toBe(true);
  });

  test('fail-closed: the chained event is on disk when the decision goes ahead', async () => {
    const file = join(dir, 'fail-closed.log');
    const sink = createWinstonAuditSink({ filename: file, integrity: { key: keys.privateKey } });
    await recordAuditEvent(createAuditTrail(sink, 'fail-closed'), event('closed'));
    expect(chainOf(linesOf(file)[0])).toEqual({ seq: 1, prev: null });
    fileTransportOf(sink).close();
  });

  test('events logged just before the process exits are written, chained', async () => {
    const file = join(dir, 'exit.log');
    const pem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const script = `
      import { createWinstonAuditSink } from ${JSON.stringify(join(process.cwd(), 'lib', 'index.ts'))};
      const sink = createWinstonAuditSink({ filename: ${JSON.stringify(file)}, integrity: { key: ${JSON.stringify(pem)} } });
      for (let n = 0; n < 3; n++) sink.log({ action: 'authorize', request_id: 'exit-' + n });
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
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(linesOf(file).map((line) => chainOf(line).seq)).toEqual([1, 2, 3]);
    // No checkpoint could be signed before exit: the chain alone links these lines.
    expect((await verify(file)).problem?.kind).toBe('unsigned');
  });
});
