import { escapeUnsafeText } from '../audit/audit-event.js';
import { closest } from '../core/options.js';
import { run as doctor, DOCTOR_SUMMARY } from './doctor-command.js';
import { run as explain, EXPLAIN_SUMMARY } from './explain-command.js';
import { run as verify, VERIFY_SUMMARY } from './verify-command.js';

/** What a command reads and writes: the process's own, or a test's. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly stdin: NodeJS.ReadableStream;
  /** The variables settings are read from. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths are resolved from. Default: `process.cwd()`. */
  readonly cwd?: string;
}

/** One command of the executable. */
export interface CliCommand {
  /** One line for `--help`. */
  readonly summary: string;
  /** Runs it with the arguments after its name; resolves to the exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * The commands, by name, in the order `--help` lists them. A command is a
 * `lib/cli/<name>-command.ts` exporting `run(args, io)` and its summary, plus one line here.
 */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  verify: { summary: VERIFY_SUMMARY, run: verify },
  explain: { summary: EXPLAIN_SUMMARY, run: explain },
  doctor: { summary: DOCTOR_SUMMARY, run: doctor },
};

/** A mistake in how the executable was called. */
const EXIT_USAGE = 2;

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return `Usage: express-identity-passthrough <command> [arguments]

Commands:
${lines.join('\n')}

Run "express-identity-passthrough <command> --help" for the arguments of a command.
`;
}

/**
 * The `express-identity-passthrough` executable: `express-identity-passthrough <command>
 * [arguments]`, the command looked up in {@link COMMANDS}. `--help` (or `help`) lists them;
 * no command, or an unknown one, is a usage error (exit code 2, with a "did you mean").
 * Resolves to the exit code the process ends with.
 *
 * @example
 * ```ts
 * const { stdout, stderr, stdin } = process;
 * process.exitCode = await main(process.argv.slice(2), { stdout, stderr, stdin });
 * ```
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage());
    return 0;
  }
  if (name === undefined) {
    io.stderr.write(usage());
    return EXIT_USAGE;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    const guess = closest(name, Object.keys(COMMANDS));
    const hint = guess === undefined ? '' : ` (did you mean "${guess}"?)`;
    // The name is echoed as JSON: an argument can hold terminal escapes.
    io.stderr.write(`unknown command ${JSON.stringify(name)}${hint}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  return command.run(args, { ...io, stdout: escaping(io.stdout), stderr: escaping(io.stderr) });
}

// Every line a command prints is passed through the audit log's escaping: claims, directory
// entries and upstream documents are text an attacker may have chosen, and a terminal obeys
// the control, bidi and invisible characters in it. Line breaks are the output's own.
function escaping(stream: CliIo['stdout']): CliIo['stdout'] {
  return {
    write: (text: string) => stream.write(text.split('\n').map(escapeUnsafeText).join('\n')),
  };
}
