// Profiles one benchmark server under load: `npx tsx scripts/bench/profile.ts [variant] [workload]`
// (variant default `eip`; workload `distinct` or `repeated`). Writes a V8 CPU profile and prints
// the functions with the most self time, to find where a request's microseconds go.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalIssuer } from '../../examples/local-issuer.js';

const here = dirname(fileURLToPath(import.meta.url));
const variant = process.argv[2] ?? 'eip';
const workload = process.argv[3] ?? 'distinct';
const seconds = 6;
const work = mkdtempSync(join(tmpdir(), 'eip-profile-'));
const issuer = await createLocalIssuer({ alg: 'RS256' });
const count = workload === 'distinct' ? 12_000 : 1;
const tokens = await Promise.all(
  Array.from({ length: count }, (_, index) =>
    issuer.sign({ aud: 'api://bench', sub: `user-${index}`, preferred_username: `user${index}` }),
  ),
);
const tokenFile = join(work, 'tokens.json');
writeFileSync(tokenFile, JSON.stringify(tokens));
// The passthrough variants call an upstream: a bench server of its own, on the load's core.
let upstreamOrigin = '';
const upstream =
  variant === 'eip-passthrough' || variant === 'fetch'
    ? spawn('taskset', ['-c', '1', process.execPath, join(here, 'bench-server.mjs'), 'upstream'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : undefined;
if (upstream !== undefined) {
  const port = await new Promise<number>((resolve) => {
    upstream.stdout.on('data', (chunk: Buffer) => {
      const match = /READY (\d+)/.exec(chunk.toString());
      if (match !== null) resolve(Number(match[1]));
    });
  });
  upstreamOrigin = `http://127.0.0.1:${port}`;
}
const server = spawn(
  'taskset',
  [
    '-c',
    '0',
    process.execPath,
    '--cpu-prof',
    `--cpu-prof-dir=${work}`,
    join(here, 'bench-server.mjs'),
    variant,
  ],
  {
    env: {
      ...process.env,
      BENCH_ISSUER: issuer.issuer,
      BENCH_AUDIENCE: 'api://bench',
      BENCH_JWKS_URI: issuer.jwksUri,
      BENCH_EXIT_AFTER_MS: String((seconds + 3) * 1000),
      BENCH_UPSTREAM: upstreamOrigin,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const port = await new Promise<number>((resolve) => {
  server.stdout.on('data', (chunk: Buffer) => {
    const match = /READY (\d+)/.exec(chunk.toString());
    if (match !== null) resolve(Number(match[1]));
  });
});
const load = spawn(
  'taskset',
  [
    '-c',
    '1',
    process.execPath,
    '--import',
    'tsx',
    join(here, 'load.ts'),
    `http://127.0.0.1:${port}/data`,
    tokenFile,
    String(seconds),
    '50',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let output = '';
load.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
await new Promise((resolve) => load.once('exit', resolve));
await new Promise((resolve) => server.once('exit', resolve));
upstream?.kill();
await issuer.close();
console.log(output.trim().split('\n').at(-1));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
const file = readdirSync(work).find((name) => name.endsWith('.cpuprofile'));
if (file === undefined) throw new Error('no profile written');
const profile = JSON.parse(readFileSync(join(work, file), 'utf8')) as { nodes: Node[] };
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const nameOf = (node: Node): string =>
  `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(lib|dist)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
// Busy samples only: idle time depends on how long the server waited before the load began.
let busy = 0;
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  if (node.callFrame.functionName === '(idle)') continue;
  busy += hits;
  self.set(nameOf(node), (self.get(nameOf(node)) ?? 0) + hits);
}
// Inclusive time: a function's samples plus its callees', counted once per call stack.
function subtotal(node: Node, onStack: Set<string>): number {
  const name = nameOf(node);
  let hits = node.callFrame.functionName === '(idle)' ? 0 : (node.hitCount ?? 0);
  const first = !onStack.has(name);
  onStack.add(name);
  for (const child of node.children ?? []) hits += subtotal(byId.get(child)!, onStack);
  if (first) {
    onStack.delete(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
  }
  return hits;
}
subtotal(profile.nodes[0]!, new Set());
const percent = (hits: number): string => `${((hits / busy) * 100).toFixed(1).padStart(5)}%`;
console.log('self time (share of busy samples)');
for (const [where, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${percent(hits)}  ${where}`);
}
console.log("inclusive time of this package's functions");
for (const [where, hits] of [...inclusive]
  .filter(([where]) => /^\S+ (lib|dist)\//.test(where))
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30)) {
  console.log(`${percent(hits)}  ${where}`);
}
console.log(`profile: ${join(work, file)}`);
