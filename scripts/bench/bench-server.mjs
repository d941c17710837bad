// One benchmark server: `node bench-server.mjs <variant>` with its settings in the BENCH_*
// variables. Prints "READY <port>" once listening on 127.0.0.1. Each variant is the smallest
// honest use of its middleware in front of the same JSON route. Plain JavaScript importing the
// built package (dist/), so that what is measured is what users run, not a TypeScript loader.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { expressjwt } from 'express-jwt';
import { auth } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import jwksRsa from 'jwks-rsa';
// The built package by default; the smoke run (inside the test suite) points at the sources.
const {
  authenticate,
  createPassthrough,
  createWinstonAuditSink,
  identityErrorHandler,
  requireUser,
} = await import(process.env.BENCH_PACKAGE ?? '../../dist/index.js');
const variant = process.argv[2] ?? 'bare';
const env = (name) => {
  const value = process.env[name];
  if (value === void 0) throw new Error(`${name} is not set`);
  return value;
};
const alg = process.env['BENCH_ALG'] ?? 'RS256';
const issuer = process.env['BENCH_ISSUER'] ?? '';
const audience = process.env['BENCH_AUDIENCE'] ?? '';
const jwksUri = process.env['BENCH_JWKS_URI'] ?? '';
const secret = process.env['BENCH_SECRET'] ?? '';
const symmetric = alg.startsWith('HS');
function winstonToFile() {
  const dir = mkdtempSync(join(tmpdir(), 'eip-bench-audit-'));
  return createWinstonAuditSink({ filename: join(dir, 'audit.log') });
}
function guards() {
  switch (variant) {
    case 'bare':
      return [];
    case 'jose': {
      const key = symmetric
        ? new TextEncoder().encode(secret)
        : createRemoteJWKSet(new URL(jwksUri));
      return [
        (req, res, next) => {
          const token = req.headers.authorization?.slice(7) ?? '';
          const verify = symmetric
            ? jwtVerify(token, key, { issuer, audience, algorithms: [alg] })
            : jwtVerify(token, key, {
                issuer,
                audience,
                algorithms: [alg],
              });
          verify.then(
            () => next(),
            () => res.status(401).end(),
          );
        },
      ];
    }
    case 'auth0':
      return [
        auth(
          symmetric
            ? { issuer, audience, secret, tokenSigningAlg: alg }
            : { issuer, audience, jwksUri, tokenSigningAlg: alg },
        ),
      ];
    case 'express-jwt':
      return [
        expressjwt({
          secret: symmetric
            ? secret
            : jwksRsa.expressJwtSecret({ jwksUri, cache: true, rateLimit: true }),
          algorithms: [alg],
          issuer,
          audience,
        }),
      ];
    case 'eip':
    case 'eip-no-audit':
    case 'eip-no-cache': {
      const audit = variant === 'eip-no-audit' ? { log: () => void 0 } : winstonToFile();
      const keys = symmetric ? { secret } : { jwksUri };
      return [
        authenticate({
          issuer,
          audience,
          ...keys,
          audit,
          ...(variant === 'eip-no-cache' ? { tokenCache: false } : {}),
        }),
        requireUser(),
      ];
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}
const app = express();
if (variant === 'fetch' || variant === 'eip-passthrough') {
  const upstream = env('BENCH_UPSTREAM');
  const passthrough =
    variant === 'eip-passthrough'
      ? createPassthrough({
          upstreams: { data: { origin: upstream, audience } },
          audit: winstonToFile(),
        })
      : void 0;
  if (passthrough !== void 0) {
    app.use(authenticate({ issuer, audience, jwksUri, audit: winstonToFile() }), requireUser());
  }
  app.get('/data', (_req, res, next) => {
    const call =
      passthrough === void 0 ? fetch(`${upstream}/data`) : passthrough.fetch(`${upstream}/data`);
    call
      .then(async (response) => {
        res
          .status(response.status)
          .type('json')
          .send(Buffer.from(await response.arrayBuffer()));
      })
      .catch(next);
  });
} else if (variant === 'upstream') {
  const body = JSON.stringify({
    resource: Array.from({ length: 20 }, (_, id) => ({ id, item: `item-${id}` })),
  });
  app.get('/data', (_req, res) => res.type('json').send(body));
} else {
  app.get('/data', ...guards(), (_req, res) => res.json({ ok: true }));
}
app.use(identityErrorHandler());
// For profiling (scripts/bench/profile.ts): exit normally after a while, so that
// --cpu-prof writes its profile.
if (process.env.BENCH_EXIT_AFTER_MS !== void 0) {
  setTimeout(() => process.exit(0), Number(process.env.BENCH_EXIT_AFTER_MS)).unref();
}
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`READY ${port}
`);
});
server.keepAliveTimeout = 6e4;
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0));
