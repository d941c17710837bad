// jwks-rsa is CommonJS and require()s jose, which is ESM-only. Node (20.19+) loads it natively
// through require(esm), but Jest's module registry supports that only from Node 24.9. For the
// test run, the same jose source is bundled as CommonJS and handed to require() callers;
// import callers (this package) keep loading the real ESM build.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const JOSE_CJS = join(root, 'node_modules', '.cache', 'eip-test', 'jose.cjs');

export default async function bundleJoseAsCommonJs() {
  const require = createRequire(join(root, 'package.json'));
  await build({
    entryPoints: [require.resolve('jose')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: JOSE_CJS,
    logLevel: 'warning',
  });
}
