// The multi-instance tests trust this proxy to alternate instances and to pass requests and
// responses through unchanged; these prove it, against real HTTP servers on 127.0.0.1.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';

interface Echoed {
  name: string;
  method: string;
  url: string;
  body: string;
  headers: IncomingMessage['headers'];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that answers with what it received, two cookies and its own name. */
async function echo(name: string, delayMs = 0): Promise<string> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const echoed: Echoed = {
        name,
        method: req.method ?? '',
        url: req.url ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
        headers: req.headers,
      };
      const timer = setTimeout(() => {
        res
          .writeHead(201, {
            'content-type': 'application/json',
            'set-cookie': [`one=${name}; HttpOnly`, `two=${name}; Path=/`],
          })
          .end(JSON.stringify(echoed));
      }, delayMs);
      res.once('close', () => clearTimeout(timer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function proxy(...args: Parameters<typeof startRoundRobinProxy>): Promise<RoundRobinProxy> {
  const started = await startRoundRobinProxy(...args);
  cleanups.push(() => started.close());
  return started;
}

test('alternates the targets, and records which one served each request', async () => {
  const [a, b] = await Promise.all([echo('A'), echo('B')]);
  const balancer = await proxy([
    { name: 'A', url: a },
    { name: 'B', url: b },
  ]);
  const names: string[] = [];
  for (let i = 0; i < 5; i++) {
    names.push(((await request(balancer.origin).get('/')).body as Echoed | undefined)?.name ?? '');
  }
  expect(names).toEqual(['A', 'B', 'A', 'B', 'A']);
  expect(balancer.served).toEqual(names);
});

test('passes method, path, query, body and headers through, and every Set-Cookie back', async () => {
  const balancer = await proxy([{ name: 'A', url: await echo('A') }]);
  const res = await request(balancer.origin)
    .post('/auth/saml/acs?x=1&y=%2F')
    .set('Cookie', 'pending=abc')
    .set('Authorization', 'Bearer t0ken')
    .type('form')
    .send({ SAMLResponse: 'PHNhbWw+', RelayState: '/chat' });
  expect(res.status).toBe(201);
  const echoed = res.body as Echoed;
  expect(echoed).toMatchObject({
    method: 'POST',
    url: '/auth/saml/acs?x=1&y=%2F',
    body: 'SAMLResponse=PHNhbWw%2B&RelayState=%2Fchat',
  });
  expect(echoed.headers).toMatchObject({
    cookie: 'pending=abc',
    authorization: 'Bearer t0ken',
    'content-type': 'application/x-www-form-urlencoded',
    host: new URL(balancer.origin).host,
    'x-forwarded-for': '127.0.0.1',
    'x-forwarded-host': new URL(balancer.origin).host,
  });
  expect(res.headers['set-cookie']).toEqual(['one=A; HttpOnly', 'two=A; Path=/']);
});

test('a target that is down is a 502, and the next request goes to the next target', async () => {
  const down = await echo('down');
  const [closeDown] = cleanups.splice(-1);
  await closeDown?.();
  const balancer = await proxy([
    { name: 'down', url: down },
    { name: 'B', url: await echo('B') },
  ]);
  const first = await request(balancer.origin).get('/');
  expect(first.status).toBe(502);
  expect(((await request(balancer.origin).get('/')).body as Echoed).name).toBe('B');
});

test('a target slower than upstreamTimeoutMs is a 504, in bounded time', async () => {
  const balancer = await proxy([{ name: 'slow', url: await echo('slow', 2_000) }], {
    upstreamTimeoutMs: 200,
  });
  const started = Date.now();
  const res = await request(balancer.origin).get('/');
  expect(res.status).toBe(504);
  expect(Date.now() - started).toBeLessThan(1_500);
});

test('no targets: a TypeError', async () => {
  await expect(startRoundRobinProxy([])).rejects.toThrow('at least one target');
});
