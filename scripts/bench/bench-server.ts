// One benchmark server: `node --import tsx bench-server.ts <variant>` with its settings in the
// BENCH_* variables. Prints "READY <port>" once listening on 127.0.0.1. Each variant is the
// smallest honest use of its middleware in front of the same JSON route.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type RequestHandler } from 'express';
import { expressjwt } from 'express-jwt';
import { auth } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import jwksRsa from 'jwks-rsa';
import {
  authenticate,
  createPassthrough,
  createWinstonAuditSink,
  identityErrorHandler,
  requireUser,
  type AuditSink,
} from '../../lib/index.js';

const variant = process.argv[2] ?? 'bare';
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const alg = process.env['BENCH_ALG'] ?? 'RS256';
const issuer = process.env['BENCH_ISSUER'] ?? '';
const audience = process.env['BENCH_AUDIENCE'] ?? '';
const jwksUri = process.env['BENCH_JWKS_URI'] ?? '';
const secret = process.env['BENCH_SECRET'] ?? '';
const symmetric = alg.startsWith('HS');

function winstonToFile(): AuditSink {
  const dir = mkdtempSync(join(tmpdir(), 'eip-bench-audit-'));
  return createWinstonAuditSink({ filename: join(dir, 'audit.log') });
}

function guards(): RequestHandler[] {
  switch (variant) {
    case 'bare':
      return [];
    case 'jose': {
      // The floor for a JWT check: jose's own verify, keys from its cached remote JWKS.
      const key = symmetric
        ? new TextEncoder().encode(secret)
        : createRemoteJWKSet(new URL(jwksUri));
      return [
        (req, res, next) => {
          const token = req.headers.authorization?.slice(7) ?? '';
          const verify = symmetric
            ? jwtVerify(token, key as Uint8Array, { issuer, audience, algorithms: [alg] })
            : jwtVerify(token, key as ReturnType<typeof createRemoteJWKSet>, {
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
            : (jwksRsa.expressJwtSecret({ jwksUri, cache: true, rateLimit: true }) as never),
          algorithms: [alg as 'RS256'],
          issuer,
          audience,
        }),
      ];
    case 'eip':
    case 'eip-no-audit':
    case 'eip-no-cache': {
      const audit: AuditSink =
        variant === 'eip-no-audit' ? { log: () => undefined } : winstonToFile();
      const keys = symmetric ? { secret } : { jwksUri };
      return [
        authenticate({
          issuer,
          audience,
          ...keys,
          audit,
          ...(variant === 'eip-no-cache' ? { tokenCache: false as const } : {}),
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
  // The passthrough path against a plain fetch of the same upstream, body streamed through.
  const upstream = env('BENCH_UPSTREAM');
  const passthrough =
    variant === 'eip-passthrough'
      ? createPassthrough({
          upstreams: { data: { origin: upstream, audience } },
          audit: winstonToFile(),
        })
      : undefined;
  if (passthrough !== undefined) {
    app.use(authenticate({ issuer, audience, jwksUri, audit: winstonToFile() }), requireUser());
  }
  app.get('/data', (_req, res, next) => {
    const call =
      passthrough === undefined ? fetch(`${upstream}/data`) : passthrough.fetch(`${upstream}/data`);
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

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`READY ${port}\n`);
});
server.keepAliveTimeout = 60_000;
// Exit normally on a signal, so that profilers (--cpu-prof) can write their output.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
