import { readFileSync, statSync } from 'node:fs';
import type { JsonWebKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { checkpointVerificationKey, type AuditKeyInput } from '../audit/checkpoint-key.js';
import { verifyAuditTrail, type AuditTrailReport } from '../audit/verify-audit-trail.js';

/** The line `--help` shows for `verify`. */
export const VERIFY_SUMMARY =
  'check a tamper-evident audit trail: its chain and signed checkpoints';

/** The usage text of `verify`. */
export const VERIFY_USAGE = `Usage: express-identity-passthrough verify --key <public key file> <audit file>...

Checks audit files written by createWinstonAuditSink({ filename, integrity }): every line
links to the one before it, across the files, and every checkpoint is signed with the key.
Give the files oldest first: audit.log.2 audit.log.1 audit.log.

Options:
  -k, --key <file>  the public key of the checkpoint signing key, PEM or JWK
                    (repeat it for a trail signed by an old key and a new one)
      --json        the report as JSON
  -h, --help        this text

Exit codes: 0 the trail is intact, 1 it is not (the first problem is named), 2 usage error.
`;

/** Where `verify` writes: the process's streams, or a test's buffers. */
export interface VerifyIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

// A key file is a few KiB; anything much larger was given by mistake.
const MAX_KEY_FILE_BYTES = 64 * 1024;

class UsageError extends Error {}

/**
 * `express-identity-passthrough verify --key public.pem audit.log.1 audit.log`: runs
 * `verifyAuditTrail()` on the files and prints the result, or the first problem with its file
 * and line. Prints no line content, no signature and no key (a private key given by mistake is
 * used for its public part only, and said so).
 *
 * Resolves to the exit code: 0 intact, 1 a problem, 2 a usage error (a missing option, an
 * unreadable file or key).
 *
 * @example
 * ```ts
 * const code = await run(['--key', 'public.pem', 'audit.log'], process);
 * ```
 */
export async function run(args: string[], io: VerifyIo): Promise<number> {
  let report: AuditTrailReport;
  let json: boolean;
  try {
    const parsed = parseVerifyArguments(args);
    if (parsed.help) {
      io.stdout.write(VERIFY_USAGE);
      return 0;
    }
    json = parsed.json;
    const keys = parsed.keys.map((file) => readKey(file, io));
    report = await verifyAuditTrail({ files: parsed.files, publicKey: keys }).catch(
      (error: unknown) => {
        throw new UsageError(error instanceof Error ? error.message : 'cannot read the files');
      },
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(
      `verify: ${error.message}\nRun "express-identity-passthrough verify --help" for usage.\n`,
    );
    return 2;
  }
  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : describe(report));
  return report.ok ? 0 : 1;
}

function parseVerifyArguments(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        key: { type: 'string', short: 'k', multiple: true },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : 'bad arguments');
  }
  const { values, positionals } = parsed;
  const help = values.help === true;
  if (!help && (values.key === undefined || values.key.length === 0)) {
    throw new UsageError('--key <public key file> is required');
  }
  if (!help && positionals.length === 0) throw new UsageError('no audit file given');
  return { help, json: values.json === true, keys: values.key ?? [], files: positionals };
}

function readKey(file: string, io: VerifyIo): AuditKeyInput {
  let text: string;
  try {
    if (statSync(file).size > MAX_KEY_FILE_BYTES) throw new Error('too large for a key file');
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--key ${file}: cannot read it (${error instanceof Error ? error.message : 'unreadable'})`,
    );
  }
  let key: AuditKeyInput = text;
  if (text.trimStart().startsWith('{')) {
    try {
      key = JSON.parse(text) as JsonWebKey;
    } catch {
      // JSON.parse quotes the text it fails on, and the text could be a private key.
      throw new UsageError(`--key ${file}: not valid JSON (a JWK) nor PEM`);
    }
  }
  try {
    const checked = checkpointVerificationKey(key, `--key ${file}`);
    if (checked.isPrivate) {
      io.stderr.write(
        `verify: --key ${file} holds a private key; only its public part is used. Verify with the public key, and keep the private key on the host that signs.\n`,
      );
    }
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : `--key ${file}: not a key`);
  }
  return key;
}

function describe(report: AuditTrailReport): string {
  const files = `${report.files} file${report.files === 1 ? '' : 's'}`;
  const checked = `${files}, ${report.linesChecked} lines, ${report.checkpointsVerified} checkpoints verified`;
  const { problem } = report;
  if (problem !== undefined) {
    return `NOT INTACT: ${problem.file}:${problem.line}: ${problem.kind}: ${problem.message}\n(checked ${checked} up to there)\n`;
  }
  const tail =
    report.linesAfterLastCheckpoint === 0
      ? 'every event is covered by a checkpoint'
      : `${report.linesAfterLastCheckpoint} events after the last checkpoint are linked by the chain only`;
  return `intact: ${checked}, seq ${report.firstSeq ?? 0}-${report.lastSeq ?? 0}; last checkpoint signed ${report.lastCheckpointAt ?? 'never'}; ${tail}\n`;
}
