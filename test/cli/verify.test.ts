// The `express-identity-passthrough verify` command, run as the process an operator runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWinstonAuditSink } from '../../lib/index.js';
import { event, fileTransportOf, keyPair, writeLines } from '../audit/audit-trail-fixture.js';

const CLI = join(process.cwd(), 'lib', 'cli.ts');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the executable from source (as `node --import tsx lib/cli.ts`), 30 s at most. */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

let dir: string;
let keys: ReturnType<typeof keyPair>;
let publicPem: string;
let privatePem: string;
let rotated: string;
let current: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eip-cli-verify-'));
  keys = keyPair('ES256');
  publicPem = join(dir, 'public.pem');
  privatePem = join(dir, 'private.pem');
  writeFileSync(publicPem, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(privatePem, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  // One trail in two files, as a rotation leaves it: the second file goes on from the first.
  rotated = join(dir, 'audit.log.1');
  current = join(dir, 'audit.log');
  const sink = createWinstonAuditSink({ filename: current, integrity: { key: keys.privateKey } });
  for (const part of ['before', 'after']) {
    for (let n = 0; n < 6; n += 1) sink.log(event(`${part}-${n}`));
    await sink.checkpoint();
    if (part === 'before') {
      renameSync(current, rotated);
      sink.reopen();
    }
  }
  fileTransportOf(sink).close();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('an intact trail across two files: exit code 0 and a one-line summary', async () => {
  const run = await cli('verify', '--key', publicPem, rotated, current);
  expect(run).toEqual({
    status: 0,
    stdout: expect.stringMatching(
      /^intact: 2 files, \d+ lines, \d+ checkpoints verified, seq 1-\d+;/,
    ),
    stderr: '',
  });
});

test('a deleted line: exit code 1, the file, the line and what happened', async () => {
  const tampered = join(dir, 'tampered.log');
  const lines = readFileSync(current, 'utf8').trimEnd().split('\n');
  writeLines(
    tampered,
    lines.filter((_, index) => index !== 1),
  );
  const run = await cli('verify', '--key', publicPem, rotated, tampered);
  expect(run.status).toBe(1);
  expect(run.stdout).toMatch(
    new RegExp(`^NOT INTACT: ${tampered.replace(/[.]/g, '\\.')}:2: removed: 1 line was removed`),
  );
});

test('--json prints the report', async () => {
  const run = await cli('verify', '--json', '-k', publicPem, rotated, current);
  expect(run.status).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual(
    expect.objectContaining({ ok: true, files: 2, linesAfterLastCheckpoint: 0 }),
  );
});

test('a private key given by mistake: used for its public part, said so, never printed', async () => {
  const run = await cli('verify', '--key', privatePem, rotated, current);
  expect(run.status).toBe(0);
  expect(run.stderr).toMatch(/holds a private key; only its public part is used/);
  const secret = readFileSync(privatePem, 'utf8').split('\n')[1] ?? '';
  expect(secret.length).toBeGreaterThan(20);
  expect(run.stdout + run.stderr).not.toContain(secret);
});

test('the wrong key: exit code 1, and the output holds no signature', async () => {
  const other = join(dir, 'other.pem');
  writeFileSync(other, keyPair('ES256').publicKey.export({ type: 'spki', format: 'pem' }));
  const run = await cli('verify', '--key', other, rotated, current);
  expect(run.status).toBe(1);
  expect(run.stdout).toMatch(/: forged: .* which is not the key given/);
  expect(run.stdout).not.toMatch(/eyJ/);
});

test.each([
  ['no --key', () => ['verify', rotated], /--key <public key file> is required/],
  ['no file', () => ['verify', '--key', publicPem], /no audit file given/],
  [
    'an unknown option',
    () => ['verify', '--key', publicPem, '--color', current],
    /Unknown option '--color'/,
  ],
  [
    'a key file that is missing',
    () => ['verify', '--key', join(dir, 'missing.pem'), current],
    /--key .*missing\.pem: cannot read it/,
  ],
  [
    'an audit file that is missing',
    () => ['verify', '--key', publicPem, join(dir, 'no.log')],
    /ENOENT/,
  ],
  [
    'a key file that is not a key',
    () => ['verify', '--key', current, current],
    /--key .*audit\.log: not valid JSON \(a JWK\) nor PEM/,
  ],
])('usage error, %s: exit code 2, on standard error', async (_what, args, message) => {
  const run = await cli(...args());
  expect(run.status).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(message);
  expect(run.stderr).toMatch(/Run "express-identity-passthrough verify --help" for usage/);
});

test('verify --help: the usage, exit code 0', async () => {
  const run = await cli('verify', '--help');
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^Usage: express-identity-passthrough verify --key/);
  expect(run.stdout).toMatch(/Exit codes: 0 the trail is intact, 1 it is not/);
});

test('--help lists the commands; an unknown command is a usage error with a suggestion', async () => {
  const help = await cli('--help');
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^Usage: express-identity-passthrough <command>/);
  expect(help.stdout).toMatch(/\n {2}verify +check a tamper-evident audit trail/);
  const typo = await cli('verfy');
  expect(typo.status).toBe(2);
  expect(typo.stderr).toMatch(/^unknown command "verfy" \(did you mean "verify"\?\)/);
  const none = await cli();
  expect(none.status).toBe(2);
  expect(none.stderr).toMatch(/^Usage:/);
});
