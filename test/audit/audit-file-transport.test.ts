import { mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditFileTransport } from '../../lib/audit/audit-file-transport.js';

// The file is real; only the system call can be told to fail, as a full disk fails: a short
// write first, then ENOSPC until space is freed.
const MESSAGE = Symbol.for('message');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'eip-audit-file-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function diskFull(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

function fileWith(name: string) {
  const disk = { mode: 'ok' as 'ok' | 'full' | 'short', shortBytes: 10 };
  const failures: unknown[] = [];
  let successes = 0;
  const path = join(dir, name);
  const transport = new AuditFileTransport(path, {
    onFailure: (error) => failures.push(error),
    onSuccess: () => (successes += 1),
    write: (fd, bytes, offset) => {
      if (disk.mode === 'full') throw diskFull();
      if (disk.mode === 'short') {
        disk.mode = 'full';
        return writeSync(fd, bytes, offset, Math.min(disk.shortBytes, bytes.length - offset));
      }
      return writeSync(fd, bytes, offset);
    },
  });
  const log = (id: string) => {
    transport.log({ [MESSAGE]: JSON.stringify({ action: 'authorize', request_id: id }) }, () => {});
  };
  return {
    disk,
    failures,
    successes: () => successes,
    transport,
    log,
    read: () => readFileSync(path, 'utf8'),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function until(condition: () => boolean): Promise<void> {
  for (let wait = 0; wait < 100 && !condition(); wait++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a write cut short by a full disk is completed once space is freed: every line once and whole, nothing taken meanwhile', async () => {
  const file = fileWith('short.log');
  file.disk.mode = 'short';
  for (const id of ['a', 'b', 'c']) file.log(id);
  await turn();
  expect(file.failures).toHaveLength(1);
  expect(file.read()).toHaveLength(10);
  // While the disk is full, new events are not taken (the sink refuses and reports them).
  file.log('refused-1');
  await turn();
  file.log('refused-2');
  expect(file.transport.pending).toBe(0);
  // Space is freed: the kept bytes are retried on their own, without a new event.
  file.disk.mode = 'ok';
  await until(() => file.successes() > 0);
  expect(file.successes()).toBe(1);
  const lines = file.read().trimEnd().split('\n');
  expect(lines.map((line) => (JSON.parse(line) as { request_id: string }).request_id)).toEqual([
    'a',
    'b',
    'c',
  ]);
  // Writing goes on normally afterwards.
  file.log('d');
  await turn();
  expect(file.read().trimEnd().split('\n')).toHaveLength(4);
  file.transport.close();
});

test('retries back off while the disk stays full, and closing reports what could not be written', async () => {
  const file = fileWith('full.log');
  file.disk.mode = 'full';
  file.log('kept');
  await turn();
  expect(file.failures).toHaveLength(1);
  // First retry after 100 ms, then 200, 400...: a handful of failures in a second, not a spin.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(file.failures.length).toBeGreaterThanOrEqual(3);
  expect(file.failures.length).toBeLessThanOrEqual(6);
  file.transport.close();
  expect(String(file.failures.at(-1))).toMatch(/bytes of audit events could not be written/);
  expect(file.read()).toBe('');
});
