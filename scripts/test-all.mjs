// The whole test suite, as CI runs it: type check, lint, format check, then the Jest suite on
// this machine's Node and on Node 22 and 24 (the versions users run), each from the npm
// registry's `node` package. Ends with one "Tests: N passed, N failed" line for all runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NODE_VERSIONS = [22, 24];
const jest = ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js'];
const current = Number(process.versions.node.split('.')[0]);
const results = mkdtempSync(join(tmpdir(), 'eip-tests-'));
let passed = 0;
let failed = 0;
let broken = false;

function step(title, command, args) {
  console.log(`\n=== ${title}`);
  const { status } = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  if (status !== 0) {
    console.error(`=== ${title}: FAILED (exit ${status})`);
    broken = true;
  }
  return status === 0;
}

function jestRun(label, command, prefix) {
  const output = join(results, `${label}.json`);
  step(`jest on ${label}`, command, [...prefix, ...jest, '--json', `--outputFile=${output}`]);
  try {
    const summary = JSON.parse(readFileSync(output, 'utf8'));
    passed += summary.numPassedTests;
    failed += summary.numFailedTests + summary.numRuntimeErrorTestSuites;
    console.log(
      `=== jest on ${label}: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed`,
    );
  } catch {
    failed += 1;
    console.error(`=== jest on ${label}: no result file; counted as a failure`);
  }
}

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
// The tests run real servers: OpenLDAP's slapd, Samba's AD domain controller, Redis and
// PostgreSQL. Each script installs its server when it can (root with apt-get) or prints the exact
// install line.
if (
  !step('system packages: OpenLDAP', process.execPath, ['scripts/ensure-slapd.mjs']) ||
  !step('system packages: Samba AD', 'bash', ['scripts/ad/samba-ad.sh', 'install']) ||
  !step('system packages: Redis', process.execPath, ['scripts/ensure-redis.mjs']) ||
  !step('system packages: PostgreSQL', process.execPath, ['scripts/ensure-postgres.mjs'])
) {
  console.error('\nTests: 0 passed, 1 failed (install the packages named above, then rerun)');
  process.exit(1);
}
step('type check', npx, ['tsc', '-p', 'tsconfig.json']);
step('lint', npx, ['eslint', '.']);
step('format', npx, ['prettier', '--check', '.']);
jestRun(`node ${process.versions.node}`, process.execPath, []);
for (const major of NODE_VERSIONS.filter((version) => version !== current)) {
  jestRun(`node ${major}`, npx, ['--yes', '-p', `node@${major}`, '--', 'node']);
}

console.log(`\nTests: ${passed} passed, ${failed} failed`);
process.exit(broken || failed > 0 || passed === 0 ? 1 : 0);
