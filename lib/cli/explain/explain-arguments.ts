import { parseArgs } from 'node:util';
import { readText, UsageError } from './command-io.js';
import type { GuardRequirements } from './guard-report.js';

/** The usage text of `explain`. */
export const EXPLAIN_USAGE = `Usage: express-identity-passthrough explain [token | -] [options]

Runs the checks authenticate() and requireUser() run on a bearer token, with this
application's settings, and says which one refuses it and how to fix that.
The token is read from standard input when it is "-" or not given (preferred: a token
on the command line stays in the shell history). It is never printed.

Settings: the environment variables fromEnv() reads (JWT_ISSUER, JWT_AUDIENCE,
OAUTH_JWKS_URL...), or --config.

Options:
  --config <module>        a module exporting the options of authenticate() as
                           "options" or as its default export
  --require-role <role>    the route's requireUser({ roles }): any of them (repeatable)
  --require-scope <scope>  the route's requireUser({ scopes }): all of them (repeatable)
  --require-group <group>  the route's requireUser({ groups }): any of them (repeatable)
  --allow-service-accounts the route's dangerouslyAllowServiceAccounts
  --json                   machine-readable output
  -h, --help               this text

Exit codes: 0 the request would pass, 1 it would be refused, 2 usage or settings error.
`;

/** `explain`'s command line, read. */
export interface ExplainArguments {
  readonly help: boolean;
  readonly json: boolean;
  readonly config: string | undefined;
  /** The token as given, or undefined to read it from standard input. */
  readonly token: string | undefined;
  readonly guard: GuardRequirements;
}

/**
 * Reads `explain`'s arguments with `node:util`'s `parseArgs`; an unknown option or a second
 * positional argument is a {@link UsageError}.
 *
 * @example
 * ```ts
 * parseExplainArguments(['-', '--require-role', 'sales_readonly']).guard.roles; // ['sales_readonly']
 * ```
 */
export function parseExplainArguments(args: readonly string[]): ExplainArguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string' },
        'require-role': { type: 'string', multiple: true },
        'require-scope': { type: 'string', multiple: true },
        'require-group': { type: 'string', multiple: true },
        'allow-service-accounts': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new UsageError('give at most one token (or "-" for standard input)');
  const token = positionals[0];
  return {
    help: values.help === true,
    json: values.json === true,
    config: values.config,
    token: token === '-' ? undefined : token,
    guard: {
      roles: values['require-role'] ?? [],
      scopes: values['require-scope'] ?? [],
      groups: values['require-group'] ?? [],
      allowServiceAccounts: values['allow-service-accounts'] === true,
    },
  };
}

// RFC 6750's b64token allows at most this: the authenticator refuses larger tokens anyway.
const MAX_TOKEN_INPUT_BYTES = 65_536;

/**
 * The token to explain: the argument, or standard input, with surrounding white space and an
 * `Authorization:` / `Bearer ` prefix (as copied from a request) removed. Empty input is a
 * {@link UsageError}.
 *
 * @example
 * ```ts
 * await readToken('Bearer eyJ...', process.stdin); // 'eyJ...'
 * ```
 */
export async function readToken(
  given: string | undefined,
  stdin: NodeJS.ReadableStream,
): Promise<string> {
  const raw = given ?? (await readText(stdin, MAX_TOKEN_INPUT_BYTES));
  const token = raw
    .trim()
    .replace(/^authorization:\s*/i, '')
    .replace(/^bearer\s+/i, '')
    .trim();
  if (token === '') {
    throw new UsageError('no token: pass it as the argument, or on standard input with "-"');
  }
  return token;
}
