// `npx tsx scripts/bench/audit-chain.ts`: the CPU each audit event costs in the winston file
// sink, as the package's own JSON lines, as ECS, and with the tamper-evident chain and signed
// checkpoints (Ed25519, one every 1000 events). In process, no HTTP: each run logs the same
// realistic event in bursts of 50 per loop turn (the batched write at the end of each turn),
// the variants interleaved over rounds; medians of process CPU time (all threads, so the
// signatures Web Crypto computes off the main thread count too). Prints a Markdown section.
//   --events N   events per run (default 50000)    --rounds N  rounds (default 5)
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAuditEvent } from '../../lib/audit/audit-event.js';
import { AuditFileTransport } from '../../lib/audit/audit-file-transport.js';
import { createIdentity } from '../../lib/core/identity.js';
import { createWinstonAuditSink, type WinstonAuditSinkOptions } from '../../lib/index.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(args[index + 1]);
};
const EVENTS = option('events', 50_000);
const ROUNDS = option('rounds', 5);
const BURST = 50;
const WARMUP = 2_000;

const identity = createIdentity(
  {
    subject: 'u-alice',
    issuer: 'https://login.example.com/',
    provider: 'jwt',
    kind: 'user',
    username: 'alice',
    groups: [],
    roles: ['sales_readonly'],
    scopes: ['orders.read'],
    attributes: {},
    tokenId: 'f3b9c0d2-5a4e-4f7b-9a51-0c8d2b7e6a11',
  },
  { type: 'bearer', value: 'not-a-real-token', audience: ['api://ai-assistant'] },
);
const event = buildAuditEvent({
  action: 'authorize',
  outcome: 'allowed',
  reason: 'ok',
  status: null,
  method: 'POST',
  path: '/ai/chat',
  requestId: '4bf92f3577b34da6a3ce929d0e0e4736',
  ip: '10.20.30.40',
  source: 'ai-assistant',
  identity,
  now: Date.now,
});

const { privateKey } = generateKeyPairSync('ed25519');
const integrity = { key: privateKey };
const VARIANTS: readonly (readonly [string, WinstonAuditSinkOptions])[] = [
  ['gateway fields (default)', {}],
  ['gateway fields + integrity', { integrity }],
  ['ECS fields', { fields: 'ecs' }],
  ['ECS fields + integrity', { fields: 'ecs', integrity }],
];

const dir = mkdtempSync(join(tmpdir(), 'eip-bench-audit-'));
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** CPU microseconds per event, and bytes per line, of one run. */
async function run(name: string, options: WinstonAuditSinkOptions, round: number) {
  const filename = join(dir, `${name.replace(/\W+/g, '-')}-${round}.log`);
  const sink = createWinstonAuditSink({ filename, ...options });
  const log = async (count: number) => {
    for (let sent = 0; sent < count; sent += BURST) {
      for (let n = 0; n < BURST; n += 1) sink.log(event);
      await turn();
    }
  };
  await log(WARMUP);
  const start = process.cpuUsage();
  await log(EVENTS);
  if (options.integrity !== undefined) await sink.checkpoint();
  const used = process.cpuUsage(start);
  const transport = sink.logger.transports.find((t) => t instanceof AuditFileTransport);
  transport?.close();
  const text = readFileSync(filename, 'utf8');
  const lines = text.split('\n').length - 1;
  rmSync(filename);
  return { cpuUs: (used.user + used.system) / EVENTS, bytes: text.length / lines };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const results = new Map<string, { cpu: number[]; bytes: number }>();
for (let round = 0; round < ROUNDS; round += 1) {
  // Interleaved, and the order turned each round, so that a slow moment of the machine is
  // spread over the variants rather than charged to one.
  for (let index = 0; index < VARIANTS.length; index += 1) {
    const [name, options] = VARIANTS[(index + round) % VARIANTS.length] ?? VARIANTS[0]!;
    const result = await run(name, options, round);
    const entry = results.get(name) ?? { cpu: [], bytes: result.bytes };
    entry.cpu.push(result.cpuUs);
    results.set(name, entry);
  }
}
rmSync(dir, { recursive: true, force: true });

const baseline = median(results.get(VARIANTS[0]![0])?.cpu ?? []);
const rows = VARIANTS.map(([name]) => {
  const { cpu, bytes } = results.get(name) ?? { cpu: [], bytes: 0 };
  const value = median(cpu);
  const delta = name === VARIANTS[0]![0] ? '' : ` (+${(value - baseline).toFixed(2)})`;
  return `| ${name} | ${value.toFixed(2)}${delta} | ${Math.round(bytes)} |`;
});
process.stdout.write(`## Audit file: ECS fields and the tamper-evident chain

CPU per event of \`createWinstonAuditSink({ filename })\`, in process: ${EVENTS} events per run
(after ${WARMUP} to warm up) in bursts of ${BURST} per loop turn, one batched write per turn;
the ${VARIANTS.length} variants interleaved over ${ROUNDS} rounds, medians. Integrity is one
SHA-256 per line in the batched write, plus an Ed25519 checkpoint every 1000 events (signed off
the main thread; its CPU is counted). Node ${process.version}, ${process.platform}/${process.arch}.

| Variant | CPU per event, µs (vs default) | Bytes per line |
| ------- | -----------------------------: | -------------: |
${rows.join('\n')}
`);
