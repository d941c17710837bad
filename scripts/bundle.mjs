// The second half of `npm run build`: tsc has written the declarations (dist/**/*.d.ts); this
// writes the JavaScript, one file per entry point and the code they share in dist/chunks/.
// Bundled because Node loads ES modules one file at a time, and the root entry's hundred-odd
// small files cost a cold start more than their code does (about 65 ms of resolving, reading
// and linking against 25 ms bundled, on the benchmark machine). Split, not one bundle per
// entry, so that every entry shares one copy of each module: one IdentityError class, one
// request scope, whichever entries an application imports. Dependencies stay external, as the
// package.json declares them; nothing is minified, so stack traces read as the source does.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outputs = [
  ...Object.values(manifest.exports)
    .map((target) => (typeof target === 'object' ? target.default : undefined))
    .filter((file) => typeof file === 'string' && file.endsWith('.js')),
  ...Object.values(manifest.bin ?? {}),
];
const entryPoints = outputs.map((file) =>
  join(root, file.replace(/^\.\/dist\//, 'lib/').replace(/\.js$/, '.ts')),
);

await build({
  entryPoints,
  outdir: join(root, 'dist'),
  outbase: join(root, 'lib'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  // lib/express/request-identity.ts only augments Express's types; there is nothing to run.
  logOverride: { 'ignored-bare-import': 'silent' },
  logLevel: 'warning',
});
