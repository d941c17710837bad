// The benchmark's tables: every run's medians and spread, and a summary that reads them against
// the targets (less server CPU per request than every peer; audit on within 5% of off; the
// cache never dearer than no cache; the passthrough at least as fast as plain fetch).
import type { Run } from './bench-process.js';

export interface Row {
  readonly workload: string;
  readonly variant: string;
  readonly runs: Run[];
}

export const PEERS = ['jose', 'auth0', 'express-jwt'] as const;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const cpuOf = (row: Row | undefined): number | undefined =>
  row === undefined ? undefined : median(row.runs.map((run) => run.cpuUsPerRequest));
const rpsOf = (row: Row | undefined): number | undefined =>
  row === undefined ? undefined : median(row.runs.map((run) => run.rps));

export function table(rows: Row[]): string {
  const lines = [
    '| Workload | Variant | req/s (median, min–max) | p50 / p99 ms | server CPU µs/req (median, min–max) | ratio to bare |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const bare = rows.find(
      (candidate) =>
        candidate.workload === row.workload &&
        (candidate.variant === 'bare' || candidate.variant === 'fetch'),
    );
    const rps = row.runs.map((run) => run.rps);
    const cpu = row.runs.map((run) => run.cpuUsPerRequest);
    const ratio = bare === undefined ? '' : (median(rps) / (rpsOf(bare) ?? 1)).toFixed(2);
    const failures = row.runs.reduce((sum, run) => sum + run.failures, 0);
    lines.push(
      `| ${row.workload} | ${row.variant}${failures > 0 ? ` (${failures} failed)` : ''} | ${median(rps).toFixed(0)} (${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)}) | ${median(row.runs.map((run) => run.p50)).toFixed(1)} / ${median(row.runs.map((run) => run.p99)).toFixed(1)} | ${median(cpu).toFixed(0)} (${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}) | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

const fixed = (value: number | undefined, digits = 0): string =>
  value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);

/** One line per workload: this package against each peer and against its own switches. */
export function summary(rows: Row[]): string {
  const lines = [
    '| Workload | eip CPU µs/req | jose | auth0 | express-jwt | eip ÷ cheapest peer (CPU) | audit on ÷ off (req/s) | cache ÷ no cache (CPU) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const workloads = [...new Set(rows.map((row) => row.workload))];
  for (const workload of workloads) {
    const of = (variant: string) =>
      rows.find((row) => row.workload === workload && row.variant === variant);
    if (of('fetch') !== undefined) {
      const ratio = (rpsOf(of('eip-passthrough')) ?? 0) / (rpsOf(of('fetch')) ?? 1);
      lines.push(
        `| ${workload} | ${fixed(cpuOf(of('eip-passthrough')))} | plain fetch: ${fixed(cpuOf(of('fetch')))} | | | req/s ÷ plain fetch: ${ratio.toFixed(2)} | | |`,
      );
      continue;
    }
    const eip = cpuOf(of('eip'));
    const peers = PEERS.map((peer) => cpuOf(of(peer)));
    const measured = peers.filter((value): value is number => value !== undefined);
    const cheapest = measured.length === 0 ? Number.NaN : Math.min(...measured);
    lines.push(
      `| ${workload} | ${fixed(eip)} | ${peers.map((value) => fixed(value)).join(' | ')} | ${fixed((eip ?? 0) / cheapest, 2)} | ${fixed((rpsOf(of('eip')) ?? 0) / (rpsOf(of('eip-no-audit')) ?? 1), 2)} | ${fixed((eip ?? 0) / (cpuOf(of('eip-no-cache')) ?? 1), 2)} |`,
    );
  }
  return lines.join('\n');
}
