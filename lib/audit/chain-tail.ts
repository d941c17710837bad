import { fstatSync, readSync } from 'node:fs';
import { CHAIN_START, lineHash, type ChainHead } from './line-chain.js';

const CHUNK_BYTES = 64 * 1024;
// Events are bounded (strings, keys and depth are cut), so a longer last line is not ours.
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Where the chain of an audit file stands: its last line's `seq` and hash, read backwards from
 * the end, so that a restarted process continues the chain instead of starting a new one.
 * An empty file has no chain yet. Throws when the file does not end with a whole chained line
 * (written without integrity, cut short, or not an audit file): continuing after such a line
 * would hide it, and only the operator can tell whether it is damage or tampering.
 */
export function readChainHead(fd: number, filename: string): ChainHead {
  const size = fstatSync(fd).size;
  if (size === 0) return CHAIN_START;
  const line = lastLine(fd, size, filename);
  const seq = chainSeqOf(line);
  if (seq === undefined) {
    throw new Error(
      `${JSON.stringify(filename)} ends with a line that carries no chain (written without integrity, or damaged): keep that file as it is, and give the sink a new one`,
    );
  }
  return { seq, hash: lineHash(line) };
}

function lastLine(fd: number, size: number, filename: string): Buffer {
  const end = Buffer.alloc(1);
  readSync(fd, end, 0, 1, size - 1);
  if (end[0] !== 0x0a) {
    throw new Error(
      `${JSON.stringify(filename)} ends in the middle of a line (the last write was cut short): keep that file as it is, and give the sink a new one`,
    );
  }
  const chunks: Buffer[] = [];
  let position = size - 1;
  let length = 0;
  while (position > 0 && length <= MAX_LINE_BYTES) {
    const bytes = Math.min(CHUNK_BYTES, position);
    const chunk = Buffer.alloc(bytes);
    readSync(fd, chunk, 0, bytes, position - bytes);
    position -= bytes;
    const newline = chunk.lastIndexOf(0x0a);
    if (newline !== -1) {
      chunks.unshift(chunk.subarray(newline + 1));
      return Buffer.concat(chunks);
    }
    chunks.unshift(chunk);
    length += bytes;
  }
  if (position === 0) return Buffer.concat(chunks);
  throw new Error(`${JSON.stringify(filename)} ends with a line longer than any audit event`);
}

/** The `chain.seq` of a line, or undefined when it is not a chained JSON line. */
export function chainSeqOf(line: Buffer | string): number | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch {
    return undefined;
  }
  const chain = (parsed as { chain?: { seq?: unknown } } | null)?.chain;
  const seq = chain?.seq;
  return Number.isSafeInteger(seq) && (seq as number) > 0 ? (seq as number) : undefined;
}
