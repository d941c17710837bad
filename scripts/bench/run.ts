// `npm run bench`: this package beside bare Express and the peer middlewares, on Node 20 and 24,
// in one report. Each server is its own process pinned to core 0, on the Node being measured;
// the load generator is another process pinned to core 1; all traffic is on 127.0.0.1; every run
// is bounded in time. Variants are interleaved over several rounds and medians reported, with
// the spread, because single runs on shared machines move a lot.
//   --duration S    seconds per run (default 4)      --rounds N  rounds (default 3)
//   --warmup S      an unmeasured run per server and workload first (default 1)
//   --soak S        a soak of S seconds with distinct tokens, sampling RSS (default 60; 0: none)
//   --nodes A,B     where the servers run: `current` and/or a major version fetched with
//                   `npx -p node@<major>` (default `current,24`)
//   --smoke         a 1-second sanity run of two variants (the test suite runs this)
//   --out FILE      the report's file (default BENCHMARKS.md; not with --smoke): the part between
//                   the `bench:main` markers is replaced, the rest of the file kept
//   --algs A,B      only these key types (RS256, ES256, HS256)
//   --variants A,B  only these variants (beside bare), for a quicker comparison while working
//   --workloads W   only `repeated` or `distinct`;  --no-passthrough  skip the passthrough rows
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { createLocalIssuer, type LocalIssuer } from '../../examples/local-issuer.js';
import { CONNECTIONS, load, pinned, rssMiB, startServer, type Server } from './bench-process.js';
import { importTable, measureImportTimes, type ImportTimes } from './import-time.js';
import { summary, table, type Row } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const list = (name: string): string[] | undefined => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? undefined : (args[index + 1]?.split(',') ?? []);
};
const option = (name: string, fallback: number): number => Number(list(name)?.[0] ?? fallback);
const smoke = flag('smoke');
const duration = smoke ? 1 : option('duration', 4);
const rounds = smoke ? 1 : option('rounds', 3);
const warmup = option('warmup', 1);
const soakSeconds = smoke ? 0 : option('soak', 60);
const out = list('out')?.[0] ?? 'BENCHMARKS.md';
const AUDIENCE = 'api://bench';
const DISTINCT = smoke ? 50 : 12_000; // more than the verified-token cache holds (10000)
const VARIANTS = ['jose', 'auth0', 'express-jwt', 'eip', 'eip-no-audit', 'eip-no-cache'];
const work = mkdtempSync(join(tmpdir(), 'eip-bench-'));

/** The Node binary of each requested version: this one, or one fetched by npx. */
function nodeBinaries(): { label: string; path: string }[] {
  const wanted = smoke ? ['current'] : (list('nodes') ?? ['current', '24']);
  return wanted.map((version) => {
    if (version === 'current') return { label: process.version, path: process.execPath };
    const path = execFileSync(
      'npx',
      ['-y', '-p', `node@${version}`, 'node', '-p', 'process.execPath'],
      { encoding: 'utf8', timeout: 300_000 },
    ).trim();
    const label = execFileSync(path, ['-v'], { encoding: 'utf8' }).trim();
    return { label, path };
  });
}

interface Signer {
  readonly env: Record<string, string>;
  readonly one: string;
  readonly many: string;
  readonly issuer?: LocalIssuer;
}

async function tokenFile(sign: (sub: string) => Promise<string>, count: number, name: string) {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) tokens.push(await sign(`user-${i}`));
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(tokens));
  return file;
}

// Tokens signed once per algorithm and shared by every Node's run, so both see the same load.
async function signerFor(alg: string): Promise<Signer> {
  if (alg === 'HS256') {
    const secret = randomBytes(48).toString('base64url');
    const key = new TextEncoder().encode(secret);
    const iss = 'https://bench.local/';
    const sign = (sub: string) =>
      new SignJWT({ sub, preferred_username: sub })
        .setProtectedHeader({ alg })
        .setIssuer(iss)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(key);
    return {
      env: { BENCH_ALG: alg, BENCH_ISSUER: iss, BENCH_AUDIENCE: AUDIENCE, BENCH_SECRET: secret },
      one: await tokenFile(sign, 1, `${alg}-one`),
      many: await tokenFile(sign, DISTINCT, `${alg}-many`),
    };
  }
  const issuer = await createLocalIssuer({ alg: alg as 'RS256' | 'ES256' });
  const sign = (sub: string) =>
    issuer.sign({
      sub,
      preferred_username: sub,
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 7200,
    });
  return {
    env: {
      BENCH_ALG: alg,
      BENCH_ISSUER: issuer.issuer,
      BENCH_AUDIENCE: AUDIENCE,
      BENCH_JWKS_URI: issuer.jwksUri,
    },
    one: await tokenFile(sign, 1, `${alg}-one`),
    many: await tokenFile(sign, DISTINCT, `${alg}-many`),
    issuer,
  };
}

async function compare(workload: string, servers: Server[], tokens: string, rows: Row[]) {
  const results = new Map<string, Row['runs']>(servers.map((server) => [server.variant, []]));
  // An unmeasured run first: the JIT compiles each server's hot path, and caches fill.
  if (!smoke) for (const server of servers) await load(server, tokens, warmup);
  for (let round = 0; round < rounds; round++) {
    for (const server of shuffled(servers)) {
      const run = await load(server, tokens, duration);
      results.get(server.variant)?.push(run);
      process.stderr.write(
        `  ${workload.padEnd(34)} ${round + 1}/${rounds} ${server.variant.padEnd(16)} ${run.rps.toFixed(0).padStart(7)} req/s ${run.cpuUsPerRequest.toFixed(0).padStart(5)} µs cpu/req${run.failures > 0 ? ` FAILURES ${run.failures}` : ''}\n`,
      );
    }
  }
  for (const [variant, runs] of results) rows.push({ workload, variant, runs });
}

function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = randomBytes(1)[0]! % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Every workload on one Node; returns its rows and soak line. */
async function runNode(node: string, signers: Map<string, Signer>) {
  const rows: Row[] = [];
  const servers: Server[] = [];
  const start = (variant: string, env: Record<string, string>) =>
    startServer(variant, env, node, smoke).then((server) => (servers.push(server), server));
  let soak = '';
  try {
    const bare = await start('bare', {});
    const variants = smoke ? ['eip'] : (list('variants') ?? VARIANTS);
    const workloads = list('workloads') ?? ['repeated', 'distinct'];
    for (const [alg, signer] of signers) {
      const group = [bare];
      for (const variant of variants) group.push(await start(variant, signer.env));
      if (workloads.includes('repeated')) {
        await compare(`${alg}, one token repeated`, group, signer.one, rows);
      }
      if (workloads.includes('distinct')) {
        await compare(`${alg}, ${DISTINCT} distinct tokens`, group, signer.many, rows);
      }
      for (const server of group.slice(1)) server.process.kill();
    }
    const rs256 = signers.get('RS256');
    if (rs256 !== undefined && !smoke && !flag('no-passthrough')) {
      await passthroughRows(rs256, start, rows);
    }
    if (rs256 !== undefined && soakSeconds > 0) soak = await soakLine(rs256, start);
  } finally {
    for (const server of servers) server.process.kill();
  }
  return { rows, soak };
}

type Start = (variant: string, env: Record<string, string>) => Promise<Server>;

async function passthroughRows(signer: Signer, start: Start, rows: Row[]) {
  const upstream = await start('upstream', {});
  const env = { ...signer.env, BENCH_UPSTREAM: new URL(upstream.url).origin };
  const plain = await start('fetch', env);
  const passthrough = await start('eip-passthrough', env);
  await compare(
    'passthrough to a local upstream (RS256, one token)',
    [plain, passthrough],
    signer.one,
    rows,
  );
  for (const server of [plain, passthrough, upstream]) server.process.kill();
}

async function soakLine(signer: Signer, start: Start): Promise<string> {
  const server = await start('eip', signer.env);
  const pid = server.process.pid ?? 0;
  const samples: number[] = [rssMiB(pid)];
  const sampler = setInterval(() => samples.push(rssMiB(pid)), 5_000);
  await load(server, signer.many, soakSeconds);
  clearInterval(sampler);
  samples.push(rssMiB(pid));
  server.process.kill();
  return `Soak: ${soakSeconds} s of RS256 requests cycling through ${DISTINCT} distinct tokens against \`eip\`; RSS every 5 s (MiB): ${samples.join(', ')}.`;
}

function cacheMemory(node: string): string {
  const output = execFileSync(
    node,
    ['--expose-gc', '--import', 'tsx', join(here, 'cache-memory.ts')],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  const result = JSON.parse(output.trim()) as Record<string, number | string>;
  return `Bytes per entry (${String(result['entries'])} entries, heap growth after full collections): verified-token cache ${String(result['tokenCacheEntryWithIdentity'])} with the identity and its 780-character token it keeps alive (the identity alone: ${String(result['identityAlone'])}); Redis revocation cache ${String(result['revocationCacheEntry'])}; MCP session binding (memory store) ${String(result['mcpSessionBinding'])}; sign-in throttle ${String(result['signInThrottleEntry'])} per failed attempt's name and client.`;
}

// The audit file's own cost (scripts/bench/audit-chain.ts), on the Node measured.
function auditChain(node: string): string {
  return execFileSync(node, ['--import', 'tsx', join(here, 'audit-chain.ts')], {
    encoding: 'utf8',
    timeout: 300_000,
  })
    .trim()
    .replace(/^## .*\n/, '');
}

function reportOf(sections: string[], started: number): string {
  return [
    '<!-- bench:main (written by `npm run bench`; edits here are overwritten) -->',
    '# Benchmarks',
    '',
    `Run on ${new Date(started).toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux; ${pinned ? 'each server pinned to core 0 and the load generator (autocannon) to core 1' : 'no core pinning'}. After an unmeasured ${warmup} s run of each server, ${rounds} interleaved rounds of ${duration} s per variant and workload, ${CONNECTIONS} connections, all on 127.0.0.1. Medians, with the min–max over the rounds. "server CPU µs/req" is the server process's user+system CPU (from /proc, every thread, so the crypto thread pool too) divided by the requests it served; "ratio to bare" is median req/s over bare Express's (or over plain fetch for the passthrough rows).`,
    '',
    'Variants: `bare` (Express, no auth), `jose` (a hand-written jose `jwtVerify` with its cached remote JWKS), `auth0` (express-oauth2-jwt-bearer), `express-jwt` (with jwks-rsa), `eip` (this package: `authenticate` + `requireUser` + an audit event per decision to the winston sink, a file), `eip-no-audit` (the same with a no-op sink), `eip-no-cache` (the same with `tokenCache: false`); `fetch` (a route that fetches the upstream with plain `fetch`) and `eip-passthrough` (authenticate + guard + `passthrough.fetch`, with the allow-list, credential rules, metering, `records_returned` and the audit events all on).',
    '',
    ...sections,
    '<!-- /bench:main -->',
  ].join('\n');
}

function write(report: string): void {
  const existing = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const begin = existing.indexOf('<!-- bench:main');
  const end = existing.indexOf('<!-- /bench:main -->');
  const next =
    begin === -1 || end === -1
      ? `${report}\n\n${existing}`
      : `${existing.slice(0, begin)}${report}${existing.slice(end + '<!-- /bench:main -->'.length)}`;
  writeFileSync(out, next.endsWith('\n') ? next : `${next}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const nodes = nodeBinaries();
  const algorithms = smoke ? ['HS256'] : (list('algs') ?? ['RS256', 'ES256', 'HS256']);
  const signers = new Map<string, Signer>();
  for (const alg of algorithms) signers.set(alg, await signerFor(alg));
  const sections: string[] = [];
  const imports: { node: string; times: ImportTimes }[] = [];
  try {
    for (const node of nodes) {
      process.stderr.write(`Node ${node.label}\n`);
      const { rows, soak } = await runNode(node.path, signers);
      sections.push(`## Node ${node.label}`, '', table(rows), '', summary(rows), '');
      if (soak !== '') sections.push(soak, '');
      if (!smoke) {
        sections.push(cacheMemory(node.path), '');
        sections.push(`### The audit file on Node ${node.label}`, auditChain(node.path), '');
        imports.push({
          node: node.label,
          times: measureImportTimes(node.path, option('import-runs', 11)),
        });
      }
    }
  } finally {
    for (const signer of signers.values()) await signer.issuer?.close();
  }
  if (imports.length > 0) {
    sections.push(
      '## Importing the root entry (a cold start)',
      '',
      `${option('import-runs', 11)} fresh processes per cell, interleaved, after one unmeasured import: the time from before \`import('express')\` to after the last import, inside the process.`,
      '',
      importTable(imports),
      '',
    );
  }
  const report = reportOf(sections, started);
  if (smoke) {
    process.stdout.write(`${report}\n`);
    return;
  }
  write(report);
  process.stdout.write(`${report}\n\nWritten to ${out}.\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
