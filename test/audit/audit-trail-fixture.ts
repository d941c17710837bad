// Tamper-evident audit files for the tests: written by the real winston sink with a key made per
// run, read back as lines, and the hash a verifier computes, written here independently of the
// package's own code.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  AuditFileTransport,
  type AuditFileTransport as AuditFileTransportType,
} from '../../lib/audit/audit-file-transport.js';
import {
  createWinstonAuditSink,
  type AuditEvent,
  type WinstonAuditSink,
  type WinstonAuditSinkOptions,
} from '../../lib/index.js';

export type KeyAlgorithm = 'EdDSA' | 'ES256' | 'RS256';

/** A fresh key pair of the algorithm's type. */
export function keyPair(algorithm: KeyAlgorithm = 'EdDSA'): {
  privateKey: KeyObject;
  publicKey: KeyObject;
} {
  if (algorithm === 'EdDSA') return generateKeyPairSync('ed25519');
  if (algorithm === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

/** An event as a JavaScript caller would hand it; the sink writes whatever it is given. */
export function event(id: string): AuditEvent {
  return { action: 'authorize', outcome: 'allowed', request_id: id } as unknown as AuditEvent;
}

export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits for `condition`, polling every 20 ms, 5 s at most. */
export async function until(condition: () => boolean): Promise<void> {
  for (let wait = 0; wait < 250 && !condition(); wait += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!condition()) throw new Error('the condition never held');
}

/** The sink's audit file transport. */
export function fileTransportOf(sink: WinstonAuditSink): AuditFileTransportType {
  const transport = sink.logger.transports.find((t) => t instanceof AuditFileTransport);
  if (transport === undefined) throw new Error('the sink has no audit file');
  return transport;
}

/**
 * Writes `events` events (a few per loop turn, so several batches), then a checkpoint, through
 * a sink with integrity, and closes the file. Returns the file's lines.
 */
export async function writeTrail(
  filename: string,
  privateKey: KeyObject,
  options: { events?: number; prefix?: string; sink?: WinstonAuditSinkOptions } = {},
): Promise<string[]> {
  const sink = createWinstonAuditSink({
    filename,
    integrity: { key: privateKey, checkpointEvery: 1_000 },
    ...options.sink,
  });
  const count = options.events ?? 9;
  for (let n = 0; n < count; n += 1) {
    sink.log(event(`${options.prefix ?? 'e'}-${n}`));
    if (n % 3 === 2) await turn();
  }
  await sink.checkpoint();
  fileTransportOf(sink).close();
  return linesOf(filename);
}

/** The lines of a file, without the empty string after its last newline. */
export function linesOf(filename: string): string[] {
  const text = readFileSync(filename, 'utf8');
  return text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined);
}

/** Writes lines back, each ending with a newline. */
export function writeLines(filename: string, lines: readonly string[]): void {
  writeFileSync(filename, lines.map((line) => `${line}\n`).join(''));
}

/** base64url SHA-256 of a line's UTF-8 bytes: what the next line records as `prev`. */
export function sha256(line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('base64url');
}

export interface Chain {
  seq: number;
  prev: string | null;
}

/** The chain field of a line. */
export function chainOf(line: string | undefined): Chain {
  return (JSON.parse(line ?? '{}') as { chain: Chain }).chain;
}

/**
 * What a forger with write access (and no key) can do: recompute every `prev` from `from` on,
 * so the chain links again after an edit.
 */
export function rechain(lines: readonly string[], from: number): string[] {
  const result = [...lines];
  for (let index = Math.max(from, 1); index < result.length; index += 1) {
    const record = JSON.parse(result[index] ?? '{}') as { chain: Chain };
    record.chain.prev = sha256(result[index - 1] ?? '');
    result[index] = JSON.stringify(record);
  }
  return result;
}

/** The indexes of the checkpoint lines. */
export function checkpointIndexes(lines: readonly string[]): number[] {
  return lines.flatMap((line, index) => (line.includes('"checkpoint":"') ? [index] : []));
}
