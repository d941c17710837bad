// Runs `express-identity-passthrough <command> ...` as a child process, as an operator would,
// through the executable's entry (lib/cli.ts), and collects what it prints.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = `${ROOT}lib/cli.ts`;

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns the command with `env` as its whole environment (plus PATH, so `node` finds its
 * tools), writes `input` to its standard input, and resolves when it exits. A command still
 * running after `timeoutMs` is killed and the promise rejects.
 */
export function runCommand(
  args: string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${args.join(' ')} still running after ${timeoutMs} ms\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/**
 * The parts of a token that must never appear in a command's output: the whole token, its
 * signature, and the signature's first and last 16 characters (no partial echo either).
 */
export function secretPartsOf(token: string): string[] {
  const signature = token.split('.')[2] ?? '';
  return signature.length < 32
    ? [token]
    : [token, signature, signature.slice(0, 16), signature.slice(-16)];
}

/** Asserts that none of `secrets` appears in what the command printed. */
export function expectNoneOf(result: CommandResult, secrets: readonly string[]): void {
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(5);
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
}
