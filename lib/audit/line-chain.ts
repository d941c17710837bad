import { hash } from 'node:crypto';

/** Where a chain stands: the last line's number and the hash of its bytes. */
export interface ChainHead {
  /** The `seq` of the last line; 0 before the first. */
  readonly seq: number;
  /** base64url SHA-256 of the last line's bytes (without its newline); null before the first. */
  readonly hash: string | null;
}

/** The head of a chain that has no line yet: its first line records `"prev": null`. */
export const CHAIN_START: ChainHead = Object.freeze({ seq: 0, hash: null });

/**
 * SHA-256 of a line as the audit file holds it (UTF-8, without the newline), base64url: what
 * the next line records as `prev`, and what a checkpoint signs.
 */
export function lineHash(line: string | Uint8Array): string {
  return hash('sha256', line, 'base64url');
}

/**
 * Links each line to the one before: appends `"chain":{"seq":n,"prev":"<hash of line n-1>"}` to
 * the line's JSON object. Editing a line changes its hash, which no longer matches the `prev`
 * of the line after it; removing one leaves a gap in `seq`; inserting or moving one breaks
 * both. One SHA-256 per line, run in the audit file's batched write, never per request.
 *
 * The chain alone is not proof (anyone who can write the file can recompute it): the signed
 * checkpoints, which name a line's `seq` and hash, are what a forger cannot produce.
 */
export class LineChain {
  #seq: number;
  #prev: string | null;

  /** Continues after `head` (the last line of the file, or of the file before a rotation). */
  constructor(head: ChainHead = CHAIN_START) {
    this.#seq = head.seq;
    this.#prev = head.hash;
  }

  /** The last linked line. */
  get head(): ChainHead {
    return { seq: this.#seq, hash: this.#prev };
  }

  /** The line with its chain field; the chain moves on to it. */
  link(line: string): string {
    const object = line.startsWith('{') && line.endsWith('}') ? line : wrap(line);
    this.#seq += 1;
    const prev = this.#prev === null ? 'null' : `"${this.#prev}"`;
    const separator = object.length > 2 ? ',' : '';
    const linked = `${object.slice(0, -1)}${separator}"chain":{"seq":${this.#seq},"prev":${prev}}}`;
    this.#prev = lineHash(linked);
    return linked;
  }
}

// A format that does not write JSON objects still gets a verifiable line.
function wrap(line: string): string {
  return `{"message":${JSON.stringify(line)}}`;
}
