/** Where a command writes text: a stream of the process, or a buffer in a test. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * What a command of the `express-identity-passthrough` executable reads and writes. The process's
 * own streams by default; a test passes its own.
 *
 * @example
 * ```ts
 * const code = await run(['--json'], { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
 * ```
 */
export interface CommandIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly stdin: NodeJS.ReadableStream;
  /** The variables settings are read from. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The directory a relative `--config` path is resolved from. Default: `process.cwd()`. */
  readonly cwd?: string;
}

/**
 * A mistake in how the command was called, or in the settings it was given: exit code 2, with
 * the text that says what to change.
 *
 * @example
 * ```ts
 * throw new UsageError('no token: pass it as the argument, or on standard input with "-"');
 * ```
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes shared by the commands: 0 passes, 1 refuses or fails a check, 2 is a usage error. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/**
 * Reads a stream to its end as UTF-8 text, refusing more than `maxBytes`: a token pasted on
 * standard input is a few KiB, and a file piped there by mistake must not fill memory.
 *
 * @example
 * ```ts
 * const text = await readText(process.stdin, 65_536);
 * ```
 */
export async function readText(stream: NodeJS.ReadableStream, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    total += bytes.byteLength;
    if (total > maxBytes) throw new UsageError(`standard input is larger than ${maxBytes} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}
