import type { ReadLine } from './audit-lines.js';

/** What `verify` found wrong with a line, as precisely as the chain tells. */
export type AuditTrailProblemKind =
  /** A line's bytes changed: its hash no longer matches what the line after it (or a checkpoint) recorded. */
  | 'edited'
  /** `seq` jumps: lines are missing. */
  | 'removed'
  /** A line that does not belong to the chain sits between two lines that link to each other. */
  | 'inserted'
  /** Lines are out of order. */
  | 'reordered'
  /** A checkpoint whose signature does not verify with the public key given. */
  | 'forged'
  /** Not a chained JSON line (damaged, cut short, or written by something else). */
  | 'malformed'
  /** A new chain starts where the previous one should go on. */
  | 'restarted'
  /** No signed checkpoint covers the lines: the chain alone proves nothing to an outsider. */
  | 'unsigned';

/** The first problem of an audit trail: where, what, and a sentence for the operator. */
export interface AuditTrailProblem {
  readonly kind: AuditTrailProblemKind;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  readonly message: string;
}

// Checkpoints name a line that came shortly before them (signing takes a few milliseconds);
// this many recent lines are kept to look them up.
const RECENT_LINES = 100_000;

/**
 * Follows the chain line by line, with one line of look-ahead to tell an insertion or a swap
 * from an edit or a removal. The first line checked is taken as it is (the trail may start at a
 * rotated file whose predecessors are gone); every later one must link to the one before.
 */
export class ChainCheck {
  #last: ReadLine | undefined;
  #first: ReadLine | undefined;
  readonly #recent = new Map<number, ReadLine>();

  /** The first and the last line accepted. */
  get first(): ReadLine | undefined {
    return this.#first;
  }

  get last(): ReadLine | undefined {
    return this.#last;
  }

  /** The line with this `seq`, if it was among the recent ones. */
  lineWithSeq(seq: number): ReadLine | undefined {
    return this.#recent.get(seq);
  }

  /** Checks `line` (knowing the one after it) and accepts it, or returns the problem. */
  check(line: ReadLine, next: ReadLine | undefined): AuditTrailProblem | undefined {
    const problem = this.#problemOf(line, next);
    if (problem !== undefined) return problem;
    this.#accept(line);
    return undefined;
  }

  #problemOf(line: ReadLine, next: ReadLine | undefined): AuditTrailProblem | undefined {
    if (line.seq === undefined) return at(line, 'malformed', line.damage ?? 'unreadable');
    const last = this.#last;
    if (last?.seq === undefined) return undefined;
    const expected = last.seq + 1;
    if (line.prev === null) {
      return at(
        line,
        'restarted',
        `a new chain starts here instead of going on from ${where(last)} (seq ${last.seq}): lines were removed before it, or the process started on a new file while the previous one was away${line.line === 1 ? ', or the files are not given oldest first' : ''}`,
      );
    }
    if (line.seq === expected) {
      if (line.prev === last.hash) return undefined;
      if (next?.seq === line.seq && next.prev === last.hash) {
        return at(
          line,
          'inserted',
          `this line was inserted: ${where(next)} takes its place in the chain`,
        );
      }
      return at(
        last,
        'edited',
        `this line was edited: its hash no longer matches what ${where(line)} recorded`,
      );
    }
    if (line.seq > expected) return this.#ahead(line, next, last, expected);
    return this.#behind(line, next, last, expected);
  }

  // A `seq` further on than expected: lines removed, a line moved forward, or an extra line.
  #ahead(line: ReadLine, next: ReadLine | undefined, last: ReadLine, expected: number) {
    if (next?.seq !== expected) {
      const missing = (line.seq ?? expected) - expected;
      return at(
        line,
        'removed',
        `${missing} line${missing === 1 ? ' was' : 's were'} removed before this one (seq ${expected}${missing === 1 ? '' : `-${expected + missing - 1}`} missing after ${where(last)})`,
      );
    }
    if (next.prev === last.hash && line.prev !== next.hash) {
      return at(
        line,
        'inserted',
        `this line was inserted: the chain goes on after it with ${where(next)}`,
      );
    }
    return at(
      line,
      'reordered',
      `this line (seq ${line.seq}) belongs after ${where(next)} (seq ${next.seq})`,
    );
  }

  // A `seq` already seen: a copy of a line, an extra line, or a line moved back.
  #behind(line: ReadLine, next: ReadLine | undefined, last: ReadLine, expected: number) {
    if (line.seq === last.seq && line.prev === last.prev) {
      // Two lines claim the same place; the one the chain goes on from is the original.
      const extra = next?.prev === line.hash ? last : line;
      return at(
        extra,
        'inserted',
        `this line was inserted: it takes the place (seq ${last.seq}) of another line`,
      );
    }
    if (next?.seq === expected && next.prev === last.hash) {
      return at(
        line,
        'inserted',
        `this line (seq ${line.seq}) was inserted: the chain goes on after it with ${where(next)}`,
      );
    }
    return at(
      line,
      'reordered',
      `this line (seq ${line.seq}) is out of order: ${where(last)} has seq ${last.seq}`,
    );
  }

  #accept(line: ReadLine): void {
    this.#first ??= line;
    this.#last = line;
    if (line.seq === undefined) return;
    this.#recent.set(line.seq, line);
    if (this.#recent.size > RECENT_LINES) {
      const oldest = this.#recent.keys().next();
      if (oldest.done !== true) this.#recent.delete(oldest.value);
    }
  }
}

/** A problem at a line. */
export function at(
  line: ReadLine,
  kind: AuditTrailProblemKind,
  message: string,
): AuditTrailProblem {
  return { kind, file: line.file, line: line.line, message };
}

/** `file:line`, for messages. */
export function where(line: Pick<ReadLine, 'file' | 'line'>): string {
  return `${line.file}:${line.line}`;
}
