import { EXIT, UsageError, type CommandIo } from './explain/command-io.js';
import { EXPLAIN_USAGE, parseExplainArguments, readToken } from './explain/explain-arguments.js';

/** One line for the executable's `--help`. */
export const EXPLAIN_SUMMARY =
  'say why a bearer token passes or is refused, check by check, and the fix';

/**
 * `express-identity-passthrough explain [token | -]`: runs the application's real
 * authenticator and route guard on a token and prints each check with PASS, FAIL or SKIP, the
 * facts behind it and, on the failing one, the fix. Settings come from the environment
 * (`fromEnv()`) or `--config <module>`. The token is never printed, only its fingerprint; the
 * only network request is the configured JWKS, fetched once.
 *
 * Resolves to the exit code: 0 when the request would pass, 1 when it would be refused, 2 for
 * a usage or settings error (which names the option or variable).
 *
 * @example
 * ```ts
 * const code = await run(['-', '--require-role', 'sales_readonly'], {
 *   stdout: process.stdout,
 *   stderr: process.stderr,
 *   stdin: process.stdin,
 * });
 * ```
 */
export async function run(args: string[], io: CommandIo): Promise<number> {
  try {
    const parsed = parseExplainArguments(args);
    if (parsed.help) {
      io.stdout.write(EXPLAIN_USAGE);
      return EXIT.ok;
    }
    if (parsed.token === undefined && (io.stdin as { isTTY?: boolean }).isTTY === true) {
      io.stderr.write('Paste the token, then press Ctrl-D.\n');
    }
    const token = await readToken(parsed.token, io.stdin);
    // Loaded here rather than with the executable: the other commands need no token verifier.
    const [{ loadBearerSettings }, { explainToken }, { renderExplanation }] = await Promise.all([
      import('./explain/bearer-settings.js'),
      import('./explain/explain-token.js'),
      import('./explain/render-explanation.js'),
    ]);
    const settings = await loadBearerSettings({
      config: parsed.config,
      env: io.env ?? process.env,
      cwd: io.cwd ?? process.cwd(),
    });
    const explanation = await explainToken({ token, settings, guard: parsed.guard });
    io.stdout.write(
      parsed.json ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation),
    );
    return explanation.passes ? EXIT.ok : EXIT.failed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(
      `explain: ${error.message}\nRun "express-identity-passthrough explain --help" for usage.\n`,
    );
    return EXIT.usage;
  }
}
