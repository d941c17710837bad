// `npm run bench`: this package beside bare Express and the peer middlewares, on this machine.
// Each server is its own process pinned to core 0; the load generator is another process pinned
// to core 1; all traffic is on 127.0.0.1; every run is bounded in time. Variants are interleaved
// over several rounds and medians reported, because single runs on shared machines move a lot.
//   --duration S   seconds per run (default 5)     --rounds N  rounds (default 3)
//   --warmup S     an unmeasured run per server and workload first (default 1)
//   --soak S       also a soak of S seconds with distinct tokens, sampling RSS
//   --smoke        a 1-second sanity run of two variants (the test suite runs this)
//   --out FILE     write the report there (default BENCHMARKS.md; not with --smoke)
//   --algs A,B     only these key types (RS256, ES256, HS256)
//   --variants A,B only these variants (beside bare), for a quicker comparison while working
//   --workloads W  only `repeated` or `distinct`;  --no-passthrough  skip the passthrough rows
//   --append       add the report to FILE under a heading naming the Node version (for a run of
//                  the same benchmark on another Node, e.g. `npx -p node@24 -- node --import tsx ...`)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { createLocalIssuer, type LocalIssuer } from '../../examples/local-issuer.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(args[index + 1]);
};
const smoke = flag('smoke');
const duration = smoke ? 1 : option('duration', 5);
const rounds = smoke ? 1 : option('rounds', 3);
const warmup = option('warmup', 1);
const soakSeconds = smoke ? 0 : option('soak', 0);
const list = (name: string): string[] | undefined => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? undefined : (args[index + 1]?.split(',') ?? []);
};
const outIndex = args.indexOf('--out');
const out = outIndex === -1 ? 'BENCHMARKS.md' : (args[outIndex + 1] ?? 'BENCHMARKS.md');
const connections = 50;
const AUDIENCE = 'api://bench';
const DISTINCT = smoke ? 50 : 12_000; // more than the verified-token cache holds (10000)
const work = mkdtempSync(join(tmpdir(), 'eip-bench-'));
const pinned = process.platform === 'linux';

interface Server {
  readonly variant: string;
  readonly url: string;
  readonly process: ChildProcess;
}
interface Run {
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

async function startServer(variant: string, env: Record<string, string>): Promise<Server> {
  // The smoke run measures nothing, so it runs the sources through tsx and needs no build.
  const source = smoke ? ['--import', 'tsx'] : [];
  const [command, commandArgs] = withCore(0, process.execPath, [
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
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'));
  return Math.round(Number(/\d+/.exec(line ?? '')?.[0] ?? 0) / 1024);
}

async function load(server: Server, tokenFile: string, seconds: number): Promise<Run> {
  const pid = server.process.pid ?? 0;
  const before = cpuMicros(pid);
  const [command, commandArgs] = withCore(1, process.execPath, [
    '--import',
    'tsx',
    join(here, 'load.ts'),
    server.url,
    tokenFile,
    String(seconds),
    String(connections),
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = randomBytes(1)[0]! % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

async function tokens(
  signer: (sub: string) => Promise<string>,
  count: number,
  name: string,
): Promise<string> {
  const list: string[] = [];
  for (let i = 0; i < count; i++) list.push(await signer(`user-${i}`));
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(list));
  return file;
}

interface Row {
  workload: string;
  variant: string;
  runs: Run[];
}

async function compare(
  workload: string,
  servers: Server[],
  tokenFile: string,
  rows: Row[],
): Promise<void> {
  const results = new Map<string, Run[]>(servers.map((server) => [server.variant, []]));
  // An unmeasured run first: the JIT compiles each server's hot path, and caches fill.
  if (!smoke) for (const server of servers) await load(server, tokenFile, warmup);
  for (let round = 0; round < rounds; round++) {
    for (const server of shuffled(servers)) {
      const run = await load(server, tokenFile, duration);
      results.get(server.variant)?.push(run);
      process.stderr.write(
        `  ${workload.padEnd(34)} round ${round + 1}/${rounds} ${server.variant.padEnd(16)} ${run.rps.toFixed(0).padStart(7)} req/s ${run.cpuUsPerRequest.toFixed(0).padStart(5)} µs cpu/req${run.failures > 0 ? ` FAILURES ${run.failures}` : ''}\n`,
      );
    }
  }
  for (const [variant, runs] of results) rows.push({ workload, variant, runs });
}

function table(rows: Row[]): string {
  const lines = [
    '| Workload | Variant | req/s (median, min–max) | p50 / p99 ms | server CPU µs/req | ratio to bare |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    const bare = rows.find(
      (candidate) =>
        candidate.workload === row.workload &&
        (candidate.variant === 'bare' || candidate.variant === 'fetch'),
    );
    const rps = row.runs.map((run) => run.rps);
    const ratio =
      bare === undefined ? '' : (median(rps) / median(bare.runs.map((run) => run.rps))).toFixed(2);
    const failures = row.runs.reduce((sum, run) => sum + run.failures, 0);
    lines.push(
      `| ${row.workload} | ${row.variant}${failures > 0 ? ` (${failures} failed)` : ''} | ${median(rps).toFixed(0)} (${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)}) | ${median(row.runs.map((run) => run.p50)).toFixed(1)} / ${median(row.runs.map((run) => run.p99)).toFixed(1)} | ${median(row.runs.map((run) => run.cpuUsPerRequest)).toFixed(0)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const started = Date.now();
  const issuers: LocalIssuer[] = [];
  const servers: Server[] = [];
  const soakLines: string[] = [];
  try {
    const algorithms = smoke ? ['HS256'] : (list('algs') ?? ['RS256', 'ES256', 'HS256']);
    const variants = smoke
      ? ['eip']
      : (list('variants') ?? [
          'jose',
          'auth0',
          'express-jwt',
          'eip',
          'eip-no-audit',
          'eip-no-cache',
        ]);
    const workloads = list('workloads') ?? ['repeated', 'distinct'];
    const bare = await startServer('bare', {});
    servers.push(bare);
    const emptyTokens = join(work, 'none.json');
    writeFileSync(emptyTokens, JSON.stringify(['']));
    for (const alg of algorithms) {
      const secret = randomBytes(48).toString('base64url');
      let signer: (sub: string) => Promise<string>;
      let env: Record<string, string>;
      if (alg === 'HS256') {
        const key = new TextEncoder().encode(secret);
        const iss = 'https://bench.local/';
        signer = (sub) =>
          new SignJWT({ sub, preferred_username: sub })
            .setProtectedHeader({ alg })
            .setIssuer(iss)
            .setAudience(AUDIENCE)
            .setIssuedAt()
            .setExpirationTime('2h')
            .sign(key);
        env = { BENCH_ALG: alg, BENCH_ISSUER: iss, BENCH_AUDIENCE: AUDIENCE, BENCH_SECRET: secret };
      } else {
        const issuer = await createLocalIssuer({ alg: alg as 'RS256' | 'ES256' });
        issuers.push(issuer);
        signer = (sub) =>
          issuer.sign({
            sub,
            preferred_username: sub,
            aud: AUDIENCE,
            exp: Math.floor(Date.now() / 1000) + 7200,
          });
        env = {
          BENCH_ALG: alg,
          BENCH_ISSUER: issuer.issuer,
          BENCH_AUDIENCE: AUDIENCE,
          BENCH_JWKS_URI: issuer.jwksUri,
        };
      }
      const group = [bare];
      for (const variant of variants) {
        const server = await startServer(variant, env);
        servers.push(server);
        group.push(server);
      }
      const one = await tokens(signer, 1, `${alg}-one`);
      const many = await tokens(signer, DISTINCT, `${alg}-many`);
      if (workloads.includes('repeated')) {
        await compare(`${alg}, one token repeated`, group, one, rows);
      }
      if (workloads.includes('distinct')) {
        await compare(`${alg}, ${DISTINCT} distinct tokens`, group, many, rows);
      }
      for (const server of group.slice(1)) server.process.kill();
      if (alg === 'RS256' && !smoke && !flag('no-passthrough')) {
        const issuer = issuers[0]!;
        const upstream = await startServer('upstream', {});
        servers.push(upstream);
        const upstreamOrigin = new URL(upstream.url).origin;
        const passEnv = {
          ...env,
          BENCH_UPSTREAM: upstreamOrigin,
          BENCH_AUDIENCE: AUDIENCE,
          BENCH_JWKS_URI: issuer.jwksUri,
        };
        const fetchServer = await startServer('fetch', passEnv);
        const passthrough = await startServer('eip-passthrough', passEnv);
        servers.push(fetchServer, passthrough);
        await compare(
          'passthrough to a local upstream (RS256, one token)',
          [fetchServer, passthrough],
          one,
          rows,
        );
        fetchServer.process.kill();
        passthrough.process.kill();
        upstream.process.kill();
        if (soakSeconds > 0) {
          const soak = await startServer('eip', env);
          servers.push(soak);
          const samples: number[] = [rssMiB(soak.process.pid ?? 0)];
          const sampler = setInterval(() => samples.push(rssMiB(soak.process.pid ?? 0)), 5_000);
          await load(soak, many, soakSeconds);
          clearInterval(sampler);
          samples.push(rssMiB(soak.process.pid ?? 0));
          soakLines.push(
            `Soak: ${soakSeconds} s of RS256 requests cycling through ${DISTINCT} distinct tokens against \`eip\`; RSS every 5 s (MiB): ${samples.join(', ')}.`,
          );
          soak.process.kill();
        }
      }
    }
  } finally {
    for (const server of servers) server.process.kill();
    await Promise.all(issuers.map((issuer) => issuer.close()));
  }
  const report = [
    ...(flag('append') ? [`## Node ${process.version}`] : ['# Benchmarks']),
    '',
    `Run on ${new Date(started).toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${pinned ? 'each server pinned to core 0 and the load generator (autocannon) to core 1' : 'no core pinning'}. After an unmeasured ${warmup} s run of each server, ${rounds} interleaved rounds of ${duration} s per variant and workload, ${connections} connections, all on 127.0.0.1. Medians, with the min–max of req/s. "server CPU µs/req" is the server process's user+system CPU (from /proc) divided by the requests it served; "ratio to bare" is median req/s over bare Express's (or over plain fetch for the passthrough rows).`,
    '',
    'Variants: `bare` (Express, no auth), `jose` (a hand-written jose `jwtVerify` with its cached remote JWKS: the floor for a verify), `auth0` (express-oauth2-jwt-bearer), `express-jwt` (with jwks-rsa), `eip` (this package: `authenticate` + `requireUser` + an audit event per decision to the winston sink, a file), `eip-no-audit` (the same with a no-op sink), `eip-no-cache` (the same with `tokenCache: false`); `fetch` (a route that fetches the upstream with plain `fetch`) and `eip-passthrough` (authenticate + guard + `passthrough.fetch` + audit).',
    '',
    table(rows),
    '',
    ...soakLines,
  ].join('\n');
  if (smoke) {
    process.stdout.write(`${report}\n`);
  } else {
    if (flag('append')) appendFileSync(out, `\n${report}\n`);
    else writeFileSync(out, `${report}\n`);
    process.stdout.write(`${report}\n\nWritten to ${out}.\n`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
