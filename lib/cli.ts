#!/usr/bin/env node
// The `express-identity-passthrough` executable (package.json "bin"): see lib/cli/main.ts.
import { main } from './cli/main.js';

const { stdout, stderr, stdin } = process;
process.exitCode = await main(process.argv.slice(2), { stdout, stderr, stdin });
