// `npm run bench:revocation`: what checking the package's session tokens against sign-outs in
// Redis adds to a request, against the memory store, and with the short local cache. In process
// (the authenticator's own cost, no HTTP): each variant authenticates the same session token
// sequentially (latency) and 50 at a time (throughput), interleaved over rounds; medians.
// Needs redis-server (the test command installs it). Bounded: a fixed number of calls per run.
//   --calls N    calls per run (default 4000)    --rounds N  rounds (default 5)
//   --out FILE   append the report there (default: print only)
import { appendFileSync } from 'node:fs';
import { createClient } from 'redis';
import {
  buildIdentity,
  createBearerAuthenticator,
  createMemorySessionStore,
  createSessionTokens,
  generateSigningKey,
  type SessionStore,
} from '../../lib/core.js';
import { createRedisStores } from '../../lib/redis.js';
import { startRedisServer } from '../../test/helpers/redis-server.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(args[index + 1]);
};
const CALLS = option('calls', 4_000);
const ROUNDS = option('rounds', 5);
const CONCURRENCY = 50;
const outIndex = args.indexOf('--out');
const out = outIndex === -1 ? undefined : args[outIndex + 1];

// The test suite's own redis-server fixture: a private server on a free port, removed after.
async function startRedis() {
  const server = await startRedisServer({ persistence: false });
  const client = createClient({ url: server.url, disableOfflineQueue: true });
  client.on('error', () => undefined);
  await client.connect();
  return {
    client,
    async stop() {
      await client.close();
      await server.destroy();
    },
  };
}

interface Variant {
  readonly name: string;
  readonly authenticate: () => Promise<unknown>;
}

async function variant(name: string, store: SessionStore): Promise<Variant> {
  const sessions = createSessionTokens({
    issuer: 'https://bench.example.com',
    signingKeys: [generateSigningKey('ES256')],
    store,
  });
  const authenticator = createBearerAuthenticator({ issuers: [sessions.trustedIssuer()] });
  const { accessToken } = await sessions.issue(
    buildIdentity({
      provider: 'ldap',
      subject: 'alice',
      issuer: 'ldap://bench',
      username: 'alice',
    }),
  );
  const request = {
    headers: { authorization: `Bearer ${accessToken}` },
    authorization: [`Bearer ${accessToken}`],
    url: '/',
    method: 'GET',
  };
  return { name, authenticate: () => authenticator.authenticate(request) };
}

interface Run {
  readonly latencyUs: number;
  readonly perSecond: number;
  readonly cpuUsPerCall: number;
}

async function measure(target: Variant): Promise<Run> {
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let index = 0; index < CALLS; index += 1) await target.authenticate();
  const sequentialNs = Number(process.hrtime.bigint() - started);
  const burstStarted = process.hrtime.bigint();
  for (let done = 0; done < CALLS; done += CONCURRENCY) {
    await Promise.all(Array.from({ length: CONCURRENCY }, () => target.authenticate()));
  }
  const burstNs = Number(process.hrtime.bigint() - burstStarted);
  const cpu = process.cpuUsage(cpuBefore);
  return {
    latencyUs: sequentialNs / 1_000 / CALLS,
    perSecond: (Math.ceil(CALLS / CONCURRENCY) * CONCURRENCY) / (burstNs / 1e9),
    cpuUsPerCall: (cpu.user + cpu.system) / (CALLS + Math.ceil(CALLS / CONCURRENCY) * CONCURRENCY),
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const redis = await startRedis();
try {
  const variants = [
    await variant('memory store', createMemorySessionStore()),
    await variant('Redis', createRedisStores({ client: redis.client, prefix: 'b1:' }).sessions),
    await variant(
      'Redis, revocationCacheMs 1000',
      createRedisStores({ client: redis.client, prefix: 'b2:', revocationCacheMs: 1_000 }).sessions,
    ),
  ];
  for (const target of variants) await measure(target); // warm-up, unmeasured
  const runs = new Map<string, Run[]>(variants.map((target) => [target.name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const target of variants) runs.get(target.name)?.push(await measure(target));
  }
  const base = median((runs.get('memory store') ?? []).map((run) => run.latencyUs));
  const lines = [
    '',
    `## Session revocation check on Redis (Node ${process.version})`,
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}: one ES256 session token authenticated by \`createBearerAuthenticator\` (signature, claims, and the sign-out check: session tokens are never served from the verified-token cache), in process, Redis 7 on 127.0.0.1 through node-redis. ${CALLS} sequential calls, then ${CALLS} in bursts of ${CONCURRENCY}; ${ROUNDS} interleaved rounds after a warm-up, medians. CPU is this process's only (Redis's own is not counted).`,
    '',
    '| Store | µs per call, sequential | added over memory | calls/s at 50 concurrent | CPU µs per call |',
    '| --- | --- | --- | --- | --- |',
    ...variants.map((target) => {
      const list = runs.get(target.name) ?? [];
      const latency = median(list.map((run) => run.latencyUs));
      return `| ${target.name} | ${latency.toFixed(0)} | ${(latency - base).toFixed(0)} | ${median(list.map((run) => run.perSecond)).toFixed(0)} | ${median(list.map((run) => run.cpuUsPerCall)).toFixed(0)} |`;
    }),
    '',
  ];
  console.log(lines.join('\n'));
  if (out !== undefined) appendFileSync(out, lines.join('\n'));
} finally {
  await redis.stop();
}
