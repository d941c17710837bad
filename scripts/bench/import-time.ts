// What importing the package costs a cold start: a fresh process per measurement, importing
// Express alone or Express and then the package's root entry (dist/), interleaved; the time from
// before the first import to after the last, inside the process.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = pathToFileURL(join(root, 'dist', 'index.js')).href;

function importMs(node: string, withPackage: boolean): number {
  const script = [
    'const started = performance.now();',
    "await import('express');",
    withPackage ? `await import(${JSON.stringify(entry)});` : '',
    'console.log(performance.now() - started);',
  ].join('\n');
  const output = execFileSync(node, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return Number(output.trim());
}

export interface ImportTimes {
  readonly express: number[];
  readonly withPackage: number[];
}

export function measureImportTimes(node: string, runs: number): ImportTimes {
  const times: ImportTimes = { express: [], withPackage: [] };
  importMs(node, true); // the file system's caches warm, as they are on a real restart
  for (let run = 0; run < runs; run++) {
    times.express.push(importMs(node, false));
    times.withPackage.push(importMs(node, true));
  }
  return times;
}

export function importTable(byNode: readonly { node: string; times: ImportTimes }[]): string {
  const spread = (values: number[]) =>
    `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
  return [
    '| Node | express alone, ms | express + this package, ms | added by this package, ms (median) |',
    '| --- | --- | --- | --- |',
    ...byNode.map(
      ({ node, times }) =>
        `| ${node} | ${spread(times.express)} | ${spread(times.withPackage)} | ${(median(times.withPackage) - median(times.express)).toFixed(0)} |`,
    ),
  ].join('\n');
}
