import { open } from 'node:fs/promises';
import { lineHash } from './line-chain.js';

/** One line of an audit file as `verify` reads it: where it is, its hash and its chain. */
export interface ReadLine {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** Of the exact bytes, without the newline. */
  readonly hash: string;
  /** `chain.seq`; undefined when the line is not a chained JSON object. */
  readonly seq: number | undefined;
  /** `chain.prev`: null on the first line of a chain. */
  readonly prev: string | null | undefined;
  /** The `checkpoint` field (a JWS) of a checkpoint line. */
  readonly checkpoint: unknown;
  /** Why the line is unreadable, when it is. */
  readonly damage: string | undefined;
}

const CHUNK_BYTES = 256 * 1024;
// Longer than any event the package writes (its strings, keys and depth are bounded).
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * The lines of an audit file, read as bytes (the hash is over the bytes as they are on disk,
 * not over a decoded string), a chunk at a time so that a large file does not fill memory.
 * Rejects when the file cannot be opened or read.
 */
export async function* readAuditLines(file: string): AsyncGenerator<ReadLine> {
  const handle = await open(file, 'r');
  try {
    let carry = Buffer.alloc(0);
    let number = 0;
    const buffer = Buffer.alloc(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      let data = Buffer.concat([carry, buffer.subarray(0, bytesRead)]);
      let newline = data.indexOf(0x0a);
      while (newline !== -1) {
        number += 1;
        yield parseLine(file, number, data.subarray(0, newline), undefined);
        data = data.subarray(newline + 1);
        newline = data.indexOf(0x0a);
      }
      if (data.length > MAX_LINE_BYTES) {
        yield parseLine(file, number + 1, Buffer.alloc(0), 'longer than any audit event');
        return;
      }
      carry = Buffer.from(data);
    }
    if (carry.length > 0) {
      yield parseLine(file, number + 1, carry, 'the file ends in the middle of this line');
    }
  } finally {
    await handle.close();
  }
}

function parseLine(
  file: string,
  line: number,
  bytes: Buffer,
  damage: string | undefined,
): ReadLine {
  const hash = lineHash(bytes);
  if (damage !== undefined) return unreadable(file, line, hash, damage);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return unreadable(file, line, hash, 'not a JSON line');
  }
  const record = typeof parsed === 'object' && parsed !== null ? parsed : {};
  const chain = (record as { chain?: unknown }).chain as { seq?: unknown; prev?: unknown } | null;
  const seq = chain?.seq;
  const prev = chain?.prev;
  if (
    !Number.isSafeInteger(seq) ||
    (seq as number) < 1 ||
    (prev !== null && typeof prev !== 'string')
  ) {
    return unreadable(
      file,
      line,
      hash,
      'no chain (written without integrity, or by something else)',
    );
  }
  return {
    file,
    line,
    hash,
    seq: seq as number,
    prev,
    checkpoint: (record as { checkpoint?: unknown }).checkpoint,
    damage: undefined,
  };
}

function unreadable(file: string, line: number, hash: string, damage: string): ReadLine {
  return { file, line, hash, seq: undefined, prev: undefined, checkpoint: undefined, damage };
}
