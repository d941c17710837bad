#!/usr/bin/env node
// The `express-identity-passthrough` executable (package.json "bin"): see lib/cli/main.ts.
import { main } from './cli/main.js';

const { stdout, stderr, stdin } = process;
let code: number;
try {
  code = await main(process.argv.slice(2), { stdout, stderr, stdin });
} catch (error) {
  // Never Node's own report of the error: its message and properties may quote a URL with a
  // password, or a token. Its name and code say where to look.
  const { name, code: errorCode } = (error ?? {}) as { name?: unknown; code?: unknown };
  stderr.write(
    `express-identity-passthrough: internal error (${typeof name === 'string' ? name : 'Error'}${typeof errorCode === 'string' ? ` ${errorCode}` : ''}); please report it.\n`,
  );
  code = 3;
}
// Exits once the output is written, rather than waiting for whatever a configuration module
// left open (a pool, a client) to close: a pipeline must not hang on a finished check.
stdout.write('', () => process.exit(code));
