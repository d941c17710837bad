// The benchmark's processes: a server per variant (pinned to core 0, on the Node being
// measured) and the load generator (pinned to core 1, on the Node running the benchmark), with
// the server's CPU read from the kernel's own accounting.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const pinned = process.platform === 'linux';
export const CONNECTIONS = 50;

export interface Server {
  readonly variant: string;
  readonly url: string;
  readonly process: ChildProcess;
}

export interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuUsPerRequest: number;
  readonly failures: number;
}

function withCore(core: number, command: string, commandArgs: string[]): [string, string[]] {
  return pinned
    ? ['taskset', ['-c', String(core), command, ...commandArgs]]
    : [command, commandArgs];
}

/**
 * Starts `bench-server.mjs <variant>` on `node`. The smoke run measures nothing, so it runs the
 * sources through tsx and needs no build.
 */
export async function startServer(
  variant: string,
  env: Record<string, string>,
  node: string,
  smoke: boolean,
): Promise<Server> {
  const source = smoke ? ['--import', 'tsx'] : [];
  const [command, commandArgs] = withCore(0, node, [
    ...source,
    join(here, 'bench-server.mjs'),
    variant,
  ]);
  const child = spawn(command, commandArgs, {
    env: {
      ...process.env,
      ...env,
      ...(smoke ? { BENCH_PACKAGE: join(here, '..', '..', 'lib', 'index.ts') } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${variant} did not start`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /READY (\d+)/.exec(chunk.toString());
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${variant} exited with ${String(code)}`)));
  });
  return { variant, url: `http://127.0.0.1:${port}/data`, process: child };
}

/** User plus system CPU of a process, in microseconds, from the kernel's own accounting. */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

export function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'));
  return Math.round(Number(/\d+/.exec(line ?? '')?.[0] ?? 0) / 1024);
}

/** One bounded load run against a server, with the server's CPU per request served. */
export async function load(server: Server, tokenFile: string, seconds: number): Promise<Run> {
  const pid = server.process.pid ?? 0;
  const before = cpuMicros(pid);
  const [command, commandArgs] = withCore(1, process.execPath, [
    '--import',
    'tsx',
    join(here, 'load.ts'),
    server.url,
    tokenFile,
    String(seconds),
    String(CONNECTIONS),
  ]);
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as {
    requests: number;
    rps: number;
    p50: number;
    p99: number;
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  const used = cpuMicros(pid) - before;
  return {
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    cpuUsPerRequest: result.requests > 0 ? used / result.requests : Number.NaN,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}
