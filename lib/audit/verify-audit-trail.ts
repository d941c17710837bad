import { readAuditLines, type ReadLine } from './audit-lines.js';
import { at, ChainCheck, where, type AuditTrailProblem } from './chain-check.js';
import { keyId, verifyCheckpoint, type VerificationKey } from './checkpoint.js';
import { checkpointVerificationKey, type AuditKeyInput } from './checkpoint-key.js';

export type { AuditTrailProblem, AuditTrailProblemKind } from './chain-check.js';

interface Tally {
  lines: number;
  checkpoints: number;
  /** Event lines after the last verified checkpoint's line. */
  uncovered: number;
  lastCheckpointAt: string | null;
  /** The last verified checkpoint's `every`: the most events its writer leaves unsigned. */
  every: number | undefined;
}

/** Options of {@link verifyAuditTrail}. */
export interface VerifyAuditTrailOptions {
  /** The audit files in the order they were written, oldest first: `audit.log.1`, `audit.log`. */
  files: readonly string[];
  /**
   * The public key of the key that signs the checkpoints (KeyObject, PEM or JWK), or several
   * during a key change. A private key works too; only its public part is used.
   */
  publicKey: AuditKeyInput | readonly AuditKeyInput[];
}

/** What {@link verifyAuditTrail} found. */
export interface AuditTrailReport {
  /** True when every line links to the one before and a signed checkpoint covers them. */
  readonly ok: boolean;
  readonly files: number;
  readonly linesChecked: number;
  /** Checkpoints whose signature verifies and whose line hash matches the file. */
  readonly checkpointsVerified: number;
  /** `seq` of the first and last line checked. */
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  /**
   * Event lines after the last verified checkpoint (its line named): linked by the chain only, so someone who can
   * write the file could have rewritten or cut them unnoticed.
   */
  readonly linesAfterLastCheckpoint: number;
  /** The time the last verified checkpoint was signed. */
  readonly lastCheckpointAt: string | null;
  /** The first problem, or undefined when there is none. */
  readonly problem: AuditTrailProblem | undefined;
}

/**
 * Checks an audit trail written with the winston sink's `integrity` option: every line must
 * link to the one before (`chain.prev` is the SHA-256 of the previous line's bytes, and
 * `chain.seq` counts on without a gap, across the files given), and every checkpoint's JWS
 * must verify with the public key and name a line whose hash matches. Stops at the first
 * problem and says where it is and what happened, as precisely as the chain tells: a line
 * `edited`, `removed`, `inserted` or `reordered`, a checkpoint `forged`, a `malformed` line, a
 * chain `restarted`, or lines no checkpoint covers (`unsigned`).
 *
 * Reads the files a chunk at a time (a large trail does not fill memory). Rejects with a
 * TypeError for bad options, and with the file system's error for a file that cannot be read.
 * The report holds no line content and no signature.
 *
 * @example
 * ```ts
 * const report = await verifyAuditTrail({
 *   files: ['/var/log/ai-backend/audit.log.1', '/var/log/ai-backend/audit.log'],
 *   publicKey: readFileSync('/etc/ai-backend/audit-signing.pub.pem', 'utf8'),
 * });
 * if (!report.ok) console.error(report.problem);
 * ```
 */
export async function verifyAuditTrail(
  options: VerifyAuditTrailOptions,
): Promise<AuditTrailReport> {
  const files = checkedFiles(options.files);
  const keys = await verificationKeys(options.publicKey);
  const chain = new ChainCheck();
  const tally: Tally = {
    lines: 0,
    checkpoints: 0,
    uncovered: 0,
    lastCheckpointAt: null,
    every: undefined,
  };
  let problem: AuditTrailProblem | undefined;
  let pending: ReadLine | undefined;
  const step = async (line: ReadLine, next: ReadLine | undefined) => {
    tally.lines += 1;
    const problem = chain.check(line, next) ?? (await checkpointProblem(line, chain, keys, tally));
    if (line.checkpoint === undefined) tally.uncovered += 1;
    return problem;
  };
  for await (const line of linesOf(files)) {
    if (pending !== undefined) problem = await step(pending, line);
    if (problem !== undefined) break;
    pending = line;
  }
  if (problem === undefined && pending !== undefined) problem = await step(pending, undefined);
  const lastSeq = chain.last?.seq ?? null;
  problem ??= unsignedProblem(chain, tally.checkpoints, files) ?? uncoveredProblem(chain, tally);
  return {
    ok: problem === undefined,
    files: files.length,
    linesChecked: tally.lines,
    checkpointsVerified: tally.checkpoints,
    firstSeq: chain.first?.seq ?? null,
    lastSeq,
    linesAfterLastCheckpoint: tally.uncovered,
    lastCheckpointAt: tally.lastCheckpointAt,
    problem,
  };
}

// One sequence across the files: the chain goes on from one file into the next.
async function* linesOf(files: readonly string[]): AsyncGenerator<ReadLine> {
  for (const file of files) yield* readAuditLines(file);
}

async function checkpointProblem(
  line: ReadLine,
  chain: ChainCheck,
  keys: readonly VerificationKey[],
  tally: Tally,
): Promise<AuditTrailProblem | undefined> {
  if (line.checkpoint === undefined || line.seq === undefined) return undefined;
  const check = await verifyCheckpoint(line.checkpoint, keys);
  if (!check.ok) return at(line, 'forged', `this checkpoint is not genuine: ${check.reason}`);
  const { seq, hash, time, every } = check.claims;
  if (seq >= line.seq) {
    return at(line, 'reordered', `this checkpoint names seq ${seq}, which comes after it`);
  }
  const named = chain.lineWithSeq(seq);
  // A line before the files given (or too far back to look up): genuine, but it covers none.
  if (named === undefined) return undefined;
  if (named.hash !== hash) {
    return at(
      named,
      'edited',
      `this line, or one before it, differs from what the checkpoint at ${where(line)} signed: it was edited and the chain after it recomputed`,
    );
  }
  tally.checkpoints += 1;
  tally.uncovered = eventsAfter(chain, seq, line.seq);
  tally.lastCheckpointAt = time;
  tally.every = every;
  return undefined;
}

// A writer signs every `every` events (and on a timer): far more unsigned lines than that after
// the last checkpoint means the checkpoints after it were dropped and the lines after it
// rewritten or added, with the chain recomputed. Twice `every`, for the lines written while a
// checkpoint was being signed and those of a crash before the next one.
function uncoveredProblem(chain: ChainCheck, tally: Tally): AuditTrailProblem | undefined {
  const { every, uncovered } = tally;
  const last = chain.last;
  if (every === undefined || last === undefined || uncovered <= 2 * every) return undefined;
  return {
    kind: 'unsigned',
    file: last.file,
    line: last.line,
    message: `${uncovered} event lines follow the last checkpoint, more than its writer leaves unsigned (it signs every ${every} events): checkpoints after it were removed, and the lines after it may have been rewritten or added`,
  };
}

// The event lines between the line a checkpoint names and the checkpoint itself: written while
// it was being signed, so not covered by it.
function eventsAfter(chain: ChainCheck, seq: number, checkpointSeq: number): number {
  let count = 0;
  for (let next = seq + 1; next < checkpointSeq; next += 1) {
    if (chain.lineWithSeq(next)?.checkpoint === undefined) count += 1;
  }
  return count;
}

function unsignedProblem(
  chain: ChainCheck,
  checkpoints: number,
  files: readonly string[],
): AuditTrailProblem | undefined {
  if (checkpoints > 0) return undefined;
  const last = chain.last;
  return {
    kind: 'unsigned',
    file: last?.file ?? files.at(-1) ?? '',
    line: last?.line ?? 0,
    message:
      last === undefined
        ? 'the files hold no line'
        : 'no checkpoint signed with the key given covers these lines: the chain links them, but whoever can write the files could have written all of it',
  };
}

function checkedFiles(files: unknown): readonly string[] {
  if (
    !Array.isArray(files) ||
    files.length === 0 ||
    !files.every((file) => typeof file === 'string' && file.length > 0)
  ) {
    throw new TypeError(
      'verifyAuditTrail: option "files" must be the audit files, oldest first (a non-empty array of paths)',
    );
  }
  return files as readonly string[];
}

async function verificationKeys(
  input: AuditKeyInput | readonly AuditKeyInput[] | undefined,
): Promise<readonly VerificationKey[]> {
  const inputs = Array.isArray(input) ? (input as readonly AuditKeyInput[]) : [input];
  if (inputs.length === 0 || inputs.some((key) => key === undefined)) {
    throw new TypeError('verifyAuditTrail: option "publicKey" is required');
  }
  return Promise.all(
    inputs.map(async (key, index) => {
      const checked = checkpointVerificationKey(
        key as AuditKeyInput,
        `verifyAuditTrail: option "publicKey${inputs.length > 1 ? `.${index}` : ''}"`,
      );
      return { key: checked.key, algorithm: checked.algorithm, kid: await keyId(checked.key) };
    }),
  );
}
