// Imports one entry point of the package from its TypeScript sources, optionally calls one of
// its exports with options given as JSON, and prints the npm packages that were loaded, as a
// JSON array. Run in a fresh process, after tsx:
//   node --import tsx test/support/loaded-packages.mjs lib/index.ts [exportName optionsJson]
// Packages reached through `import` are seen by the resolve hook; packages loaded with
// `require()` (including createRequire, which resolve hooks do not see on Node 20) are read from
// require.cache.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, exportName, optionsJson] = process.argv.slice(2);
if (entry === undefined) throw new Error('usage: loaded-packages.mjs <entry.ts> [export options]');

const scratch = mkdtempSync(join(tmpdir(), 'eip-loaded-'));
const logFile = join(scratch, 'resolved.tsv');
try {
  register('./package-recorder.mjs', import.meta.url, { data: { logFile } });
  const module = await import(pathToFileURL(resolve(entry)).href);
  if (exportName !== undefined) module[exportName](JSON.parse(optionsJson ?? '{}'));
  const resolved = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .flatMap((line) => line.split('\t'));
  const required = Object.keys(createRequire(import.meta.url).cache);
  const names = new Set(
    [...resolved, ...required].map(packageOf).filter((name) => name !== undefined),
  );
  process.stdout.write(`${JSON.stringify([...names].sort())}\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** The npm package a bare specifier, a file URL or a path belongs to (the innermost one). */
function packageOf(reference) {
  const inModules = reference.split('/node_modules/').at(-1);
  const path = reference.includes('/node_modules/') ? inModules : reference;
  if (/^(node:|file:|data:|\.|\/)/.test(path)) return undefined;
  const parts = path.split('/');
  return path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}
