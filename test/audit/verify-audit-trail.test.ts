import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAuditTrail, type AuditTrailReport } from '../../lib/index.js';
import {
  chainOf,
  checkpointIndexes,
  keyPair,
  rechain,
  writeLines,
  writeTrail,
  type KeyAlgorithm,
} from './audit-trail-fixture.js';

let dir: string;
let keys: ReturnType<typeof keyPair>;
let trail: string[];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eip-verify-'));
  keys = keyPair('EdDSA');
  // Nine events and one checkpoint in the middle (after six), then three more and a final one.
  trail = await writeTrail(join(dir, 'original.log'), keys.privateKey, {
    events: 12,
    sink: { integrity: { key: keys.privateKey, checkpointEvery: 6 } },
  });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The `seq` a checkpoint line's JWS names. */
function signedSeq(line: string): number {
  const jws = (JSON.parse(line) as { checkpoint: string }).checkpoint;
  const payload = Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString();
  return (JSON.parse(payload) as { seq: number }).seq;
}

let fileNumber = 0;
/** Writes `lines` to a new file and verifies it. */
async function verifyLines(
  lines: readonly string[],
  publicKey: KeyObject | KeyObject[] = keys.publicKey,
): Promise<{ file: string; report: AuditTrailReport }> {
  fileNumber += 1;
  const file = join(dir, `tampered-${fileNumber}.log`);
  writeLines(file, lines);
  return { file, report: await verifyAuditTrail({ files: [file], publicKey }) };
}

describe('an untouched trail', () => {
  test('is intact: every line checked, every checkpoint verified, nothing after the last', async () => {
    const { report } = await verifyLines(trail);
    const checkpoints = checkpointIndexes(trail).length;
    expect(checkpoints).toBeGreaterThanOrEqual(2);
    expect(report).toEqual({
      ok: true,
      files: 1,
      linesChecked: trail.length,
      checkpointsVerified: checkpoints,
      firstSeq: 1,
      lastSeq: trail.length,
      linesAfterLastCheckpoint: 0,
      lastCheckpointAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      problem: undefined,
    });
  });

  test.each(['EdDSA', 'ES256', 'RS256'] as KeyAlgorithm[])(
    'signed with %s, verifies with its public key (PEM too) and not with another key',
    async (algorithm) => {
      const pair = keyPair(algorithm);
      const file = join(dir, `alg-${algorithm}.log`);
      await writeTrail(file, pair.privateKey);
      const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      expect((await verifyAuditTrail({ files: [file], publicKey: pem })).ok).toBe(true);
      const other = await verifyAuditTrail({
        files: [file],
        publicKey: keyPair(algorithm).publicKey,
      });
      expect(other.ok).toBe(false);
      expect(other.problem?.kind).toBe('forged');
      // The checkpoint names the key that signed it: a wrong --key is told apart from a forgery.
      expect(other.problem?.message).toMatch(/names key "[\w-]{43}", which is not the key given/);
    },
  );

  test('a trail signed by an old key and a new one verifies with both keys', async () => {
    const older = keyPair('ES256');
    const file = join(dir, 'two-keys.log');
    await writeTrail(file, older.privateKey, { prefix: 'old' });
    await writeTrail(file, keys.privateKey, { prefix: 'new' });
    const both = await verifyAuditTrail({
      files: [file],
      publicKey: [older.publicKey, keys.publicKey],
    });
    expect(both).toEqual(expect.objectContaining({ ok: true, checkpointsVerified: 2 }));
    const one = await verifyAuditTrail({ files: [file], publicKey: keys.publicKey });
    expect(one.problem?.kind).toBe('forged');
  });
});

describe('the first problem is found and named', () => {
  test('an edited line: the line itself, by the next line whose prev no longer matches', async () => {
    const lines = trail.map((line, index) => (index === 2 ? line.replace('"e-2"', '"e-X"') : line));
    expect(lines[2]).toContain('"e-X"');
    const { file, report } = await verifyLines(lines);
    expect(report.problem).toEqual({
      kind: 'edited',
      file,
      line: 3,
      message: `this line was edited: its hash no longer matches what ${file}:4 recorded`,
    });
    expect(report.ok).toBe(false);
  });

  test('an edited line whose chain the forger recomputed: caught by the next checkpoint', async () => {
    const edited = trail.map((line, index) =>
      index === 1 ? line.replace('"e-1"', '"e-X"') : line,
    );
    const lines = rechain(edited, 2);
    const { file, report } = await verifyLines(lines);
    const firstCheckpoint = checkpointIndexes(trail)[0] ?? -1;
    expect(report.problem).toEqual(
      expect.objectContaining({
        kind: 'edited',
        file,
        message: expect.stringContaining(
          `differs from what the checkpoint at ${file}:${firstCheckpoint + 1} signed`,
        ),
      }),
    );
    // Named at the line the checkpoint signed, which is at or after the edit.
    expect(report.problem?.line).toBeGreaterThanOrEqual(2);
    expect(report.problem?.line).toBeLessThan(firstCheckpoint + 1);
  });

  test('a deleted line: removed, at the line after the gap', async () => {
    const { file, report } = await verifyLines(trail.filter((_, index) => index !== 4));
    expect(report.problem).toEqual({
      kind: 'removed',
      file,
      line: 5,
      message: `1 line was removed before this one (seq 5 missing after ${file}:4)`,
    });
  });

  test('several deleted lines are counted', async () => {
    const { report } = await verifyLines(trail.filter((_, index) => index < 2 || index > 4));
    expect(report.problem?.message).toMatch(
      /^3 lines were removed before this one \(seq 3-5 missing/,
    );
  });

  test('an inserted line (a copy of another, edited): inserted, at its place', async () => {
    const forged = (trail[1] ?? '').replace('"e-1"', '"e-forged"');
    const lines = [...trail.slice(0, 4), forged, ...trail.slice(4)];
    const { file, report } = await verifyLines(lines);
    expect(report.problem).toEqual({
      kind: 'inserted',
      file,
      line: 5,
      message: `this line (seq 2) was inserted: the chain goes on after it with ${file}:6`,
    });
  });

  test("an inserted line that takes the next line's seq and links to the line before", async () => {
    // The forger copies line 4's chain field, so the fake line looks like line 4 itself.
    const lines = [
      ...trail.slice(0, 3),
      trail[3]?.replace('"e-3"', '"e-fake"') ?? '',
      ...trail.slice(3),
    ];
    const { file, report } = await verifyLines(lines);
    expect(report.problem).toEqual(expect.objectContaining({ kind: 'inserted', file, line: 4 }));
  });

  test('two lines swapped: reordered, at the first of them', async () => {
    const lines = [...trail];
    [lines[3], lines[4]] = [lines[4] ?? '', lines[3] ?? ''];
    const { file, report } = await verifyLines(lines);
    expect(report.problem).toEqual({
      kind: 'reordered',
      file,
      line: 4,
      message: `this line (seq 5) belongs after ${file}:5 (seq 4)`,
    });
  });

  test('a forged checkpoint: its signature does not verify', async () => {
    const index = checkpointIndexes(trail)[0] ?? -1;
    const lines = trail.map((line, at) =>
      at === index
        ? line.replace(
            /("checkpoint":"[^."]+\.[^."]+\.)(.)/,
            (_, head: string, first: string) => `${head}${first === 'A' ? 'B' : 'A'}`,
          )
        : line,
    );
    expect(lines[index]).not.toBe(trail[index]);
    const { file, report } = await verifyLines(lines);
    expect(report.problem).toEqual({
      kind: 'forged',
      file,
      line: index + 1,
      message:
        'this checkpoint is not genuine: its signature does not verify with the public key given',
    });
  });

  test('a checkpoint signed by another key, for lines the forger rewrote: forged', async () => {
    const forger = generateKeyPairSync('ed25519');
    const forgedTrail = await writeTrail(join(dir, 'forger.log'), forger.privateKey);
    const { report } = await verifyLines(forgedTrail);
    expect(report.problem?.kind).toBe('forged');
    expect(JSON.stringify(report)).not.toMatch(/"checkpoint"|eyJ/);
  });

  test('a trail without any checkpoint is not intact: unsigned', async () => {
    const lines = trail.slice(0, 3);
    const { file, report } = await verifyLines(lines);
    expect(report).toEqual(
      expect.objectContaining({
        ok: false,
        linesChecked: 3,
        checkpointsVerified: 0,
        linesAfterLastCheckpoint: 3,
        problem: expect.objectContaining({ kind: 'unsigned', file, line: 3 }),
      }),
    );
  });

  test('a suffix rewritten after a kept checkpoint, longer than its writer leaves unsigned: unsigned', async () => {
    const first = checkpointIndexes(trail)[0] ?? 0;
    const kept = trail.slice(0, first + 1);
    const template = JSON.parse(trail[0] ?? '{}') as Record<string, unknown> & {
      chain: Record<string, unknown>;
    };
    let seq = chainOf(kept.at(-1)).seq;
    const forged = Array.from({ length: 13 }, (_, index) => {
      seq += 1;
      return JSON.stringify({
        ...template,
        user: `mallory-${index}`,
        chain: { ...template.chain, seq },
      });
    });
    const { report } = await verifyLines(rechain([...kept, ...forged], kept.length));
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ kind: 'unsigned' });
    expect(report.problem?.message).toMatch(/signs every 6 events/);
    // Positive control, and the limit the README states: a few lines past the last checkpoint
    // are what an honest writer leaves too, and are not told apart.
    const short = await verifyLines(rechain([...kept, ...forged.slice(0, 3)], kept.length));
    expect(short.report.ok).toBe(true);
  });

  test('lines after the last checkpoint are counted, not refused', async () => {
    const last = checkpointIndexes(trail).at(-1) ?? -1;
    // Cut the file just before its last checkpoint: the events after the line the checkpoint
    // before it names are covered by the chain only.
    const cut = trail.slice(0, last);
    const previous = cut[checkpointIndexes(cut).at(-1) ?? -1] ?? '';
    const signed = signedSeq(previous);
    const uncovered = cut.filter(
      (line) => !line.includes('"checkpoint":"') && chainOf(line).seq > signed,
    ).length;
    const { report } = await verifyLines(cut);
    expect(report.ok).toBe(true);
    expect(uncovered).toBeGreaterThan(0);
    expect(report.linesAfterLastCheckpoint).toBe(uncovered);
  });

  test.each([
    [
      'a line that is not JSON',
      (lines: string[]) => [...lines.slice(0, 2), 'garbage', ...lines.slice(2)],
      3,
      /not a JSON line/,
    ],
    [
      'a line without a chain',
      (lines: string[]) => [...lines.slice(0, 2), '{"action":"x"}', ...lines.slice(2)],
      3,
      /no chain/,
    ],
  ])('%s is malformed', async (_what, change, line, message) => {
    const { file, report } = await verifyLines(change(trail));
    expect(report.problem).toEqual({
      kind: 'malformed',
      file,
      line,
      message: expect.stringMatching(message),
    });
  });

  test('a file cut in the middle of a line is malformed at that line', async () => {
    const file = join(dir, 'cut.log');
    writeFileSync(file, `${trail.slice(0, 3).join('\n')}\n${(trail[3] ?? '').slice(0, 40)}`);
    const report = await verifyAuditTrail({ files: [file], publicKey: keys.publicKey });
    expect(report.problem).toEqual({
      kind: 'malformed',
      file,
      line: 4,
      message: 'the file ends in the middle of this line',
    });
  });

  test('a second file that starts a new chain instead of going on: restarted', async () => {
    const first = join(dir, 'restart-a.log');
    const second = join(dir, 'restart-b.log');
    writeLines(first, trail);
    await writeTrail(second, keys.privateKey, { prefix: 'new' });
    expect(chainOf(trail[0]).prev).toBeNull();
    const report = await verifyAuditTrail({ files: [first, second], publicKey: keys.publicKey });
    expect(report.problem).toEqual(
      expect.objectContaining({ kind: 'restarted', file: second, line: 1 }),
    );
    // Positive control: each file alone is intact.
    expect((await verifyAuditTrail({ files: [second], publicKey: keys.publicKey })).ok).toBe(true);
  });
});

describe('options', () => {
  test.each([
    [{ files: [], publicKey: 'x' }, /option "files" must be the audit files/],
    [{ files: 'audit.log', publicKey: 'x' }, /option "files"/],
    [{ files: ['audit.log'] }, /option "publicKey" is required/],
    [{ files: ['audit.log'], publicKey: 'not a key' }, /option "publicKey": must be a public key/],
  ])('%j is refused with a TypeError naming the option', async (options, message) => {
    await expect(verifyAuditTrail(options as never)).rejects.toThrow(TypeError);
    await expect(verifyAuditTrail(options as never)).rejects.toThrow(message);
  });

  test('a P-384 key is refused, and the message does not contain the key', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const error = (await verifyAuditTrail({ files: ['x'], publicKey: pem }).catch(
      (caught: unknown) => caught,
    )) as Error;
    expect(error.message).toMatch(
      /use an Ed25519 \(EdDSA\), EC P-256 \(ES256\) or RSA \(RS256\) key; got ec on secp384r1/,
    );
    expect(error.message).not.toContain(pem.split('\n')[1]);
  });

  test('a file that cannot be read rejects with the file system error', async () => {
    await expect(
      verifyAuditTrail({ files: [join(dir, 'missing.log')], publicKey: keys.publicKey }),
    ).rejects.toThrow(/ENOENT/);
  });
});
