import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Speed is never asserted here (that is BENCHMARKS.md's job); this only proves that the
// benchmark still runs end to end: servers start, load is generated, a table comes out.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the benchmark runs a short smoke round and reports a table with ratios', () => {
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'scripts', 'bench', 'run.ts'), '--smoke'],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 90_000,
    },
  );
  // The result table's rows (six columns); the summary below it has eight.
  const rows = output
    .split('\n')
    .filter((line) => line.startsWith('| HS256') && line.split('|').length === 8);
  expect(rows.map((row) => row.split('|')[2]?.trim())).toEqual(['bare', 'eip', 'bare', 'eip']);
  for (const row of rows) {
    const cells = row.split('|').map((cell) => cell.trim());
    expect(Number(cells[3]?.split(' ')[0])).toBeGreaterThan(0); // req/s
    expect(Number(cells[5]?.split(' ')[0])).toBeGreaterThan(0); // CPU µs per request
    expect(Number(cells[6])).toBeGreaterThan(0); // ratio to bare
    expect(row).not.toContain('failed');
  }
  const verdicts = output
    .split('\n')
    .filter((line) => line.startsWith('| HS256') && line.split('|').length === 10);
  expect(verdicts).toHaveLength(2);
  expect(output).toContain('eip ÷ cheapest peer');
}, 120_000);
