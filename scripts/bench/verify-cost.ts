// Where a distinct-token request's microseconds go, without HTTP: `npx tsx scripts/bench/verify-cost.ts`.
// In process, the CPU per call of a hand-written jose `jwtVerify` with `createRemoteJWKSet`, of
// this package's authenticator verifying every token (`tokenCache: false`), and of the
// authenticator with its cache while more distinct tokens than it holds come round in a cycle.
// 50 calls at a time; interleaved rounds; medians. Bounded: a fixed number of calls per run.
//   ALG=RS256|ES256 (default RS256)   N=<distinct tokens> (default 3000)   ROUNDS (default 5)
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createLocalIssuer } from '../../examples/local-issuer.js';
import { compileBearerAuthenticator } from '../../lib/bearer/bearer-authenticator.js';

const alg = (process.env['ALG'] ?? 'RS256') as 'RS256' | 'ES256';
const count = Number(process.env['N'] ?? 3000);
const rounds = Number(process.env['ROUNDS'] ?? 5);
const audience = 'api://bench';
const issuer = await createLocalIssuer({ alg });
const tokens: string[] = [];
for (let i = 0; i < count; i++) {
  tokens.push(
    await issuer.sign({
      aud: audience,
      sub: `user-${i}`,
      preferred_username: `user${i}`,
      exp: Math.floor(Date.now() / 1000) + 3600,
    }),
  );
}
const jwks = createRemoteJWKSet(new URL(issuer.jwksUri));
const authenticator = (tokenCache: false | { maxEntries: number }) =>
  compileBearerAuthenticator(
    { issuer: issuer.issuer, audience, jwksUri: issuer.jwksUri, tokenCache },
    'verify-cost',
  );
const uncached = authenticator(false);
// 80% of the distinct tokens: a cycle a plain LRU would never hit.
const cached = authenticator({ maxEntries: Math.floor(count * 0.8) });
const request = (token: string) => ({
  headers: { authorization: `Bearer ${token}` },
  authorization: [`Bearer ${token}`],
  url: '/data',
});
const variants: Record<string, (token: string) => unknown> = {
  'jose jwtVerify': (token) =>
    jwtVerify(token, jwks, { issuer: issuer.issuer, audience, algorithms: [alg] }),
  'authenticator, no cache': (token) => uncached.identify(request(token)),
  'authenticator, cache at 80%': (token) => cached.identify(request(token)),
};

async function cpuPerCall(call: (token: string) => unknown, calls: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < calls;) {
    const batch: unknown[] = [];
    for (let j = 0; j < 50 && i < calls; j++, i++) batch.push(call(tokens[i % count]!));
    await Promise.all(batch);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

for (const call of Object.values(variants)) await cpuPerCall(call, count * 2);
const results = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const [name, call] of Object.entries(variants)) {
    results.set(name, [...(results.get(name) ?? []), await cpuPerCall(call, count * 2)]);
  }
}
console.log(
  `${process.version}, ${alg}, ${count} distinct tokens, CPU µs per call (median, min–max):`,
);
for (const [name, values] of results) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `  ${name.padEnd(30)} ${middle.toFixed(1)} (${sorted[0]?.toFixed(1)}–${sorted.at(-1)?.toFixed(1)})`,
  );
}
await issuer.close();
