// A load balancer for tests of several instances of one application: a plain node:http reverse
// proxy on 127.0.0.1 that sends each request to the next instance in turn (A, B, A, B...), as a
// round-robin balancer without sticky sessions does. Whatever one instance remembers only in its
// own memory is then lost on every other request.
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyTarget {
  /** How the instance is called in {@link RoundRobinProxy.served}: `A`, `B`. */
  readonly name: string;
  /** `http://127.0.0.1:PORT` of the instance. */
  readonly url: string;
}

export interface RoundRobinProxy {
  /** `http://127.0.0.1:PORT`: the public address of the deployment. */
  readonly origin: string;
  /** The name of the target each request was sent to, in the order they arrived. */
  readonly served: readonly string[];
  /** Closes the listener and every connection, to clients and to the targets. */
  close(): Promise<void>;
}

/** Default: 10000 ms for a target to answer; then 504. */
const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingMessage['headers']): IncomingMessage['headers'] {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
  );
}

/**
 * Starts a proxy on a free port of 127.0.0.1 that forwards request N to `targets[N % length]`,
 * body and headers as they came (the `Host` the client used included, as `proxy_set_header Host
 * $host` does) plus `X-Forwarded-For`/`-Proto`/`-Host`. A target that cannot be reached is a 502;
 * one that does not answer within `upstreamTimeoutMs`, a 504.
 *
 * @example
 * const proxy = await startRoundRobinProxy([{ name: 'A', url: a }, { name: 'B', url: b }]);
 * await request(proxy.origin).get('/health'); // served by A
 * await request(proxy.origin).get('/health'); // served by B
 * await proxy.close();
 */
export async function startRoundRobinProxy(
  targets: readonly ProxyTarget[],
  options: { upstreamTimeoutMs?: number } = {},
): Promise<RoundRobinProxy> {
  if (targets.length === 0) throw new TypeError('startRoundRobinProxy: at least one target');
  const timeoutMs = options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  // No keep-alive towards the targets: each request is its own connection, so close() leaves
  // no pooled socket behind and a target restarted between requests is reached afresh.
  const agent = new Agent({ keepAlive: false });
  const served: string[] = [];
  let turn = 0;

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const target = targets[turn % targets.length]!;
    turn += 1;
    served.push(target.name);
    const url = new URL(req.url ?? '/', target.url);
    const upstream = httpRequest(
      url,
      {
        method: req.method,
        agent,
        headers: {
          ...endToEnd(req.headers),
          'x-forwarded-for': req.socket.remoteAddress ?? '',
          'x-forwarded-proto': 'http',
          'x-forwarded-host': req.headers.host ?? '',
        },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.setTimeout(timeoutMs, () => {
      upstream.destroy(new Error(`${target.name} did not answer within ${timeoutMs} ms`));
    });
    upstream.on('error', (error) => {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      const status = /did not answer/.test(error.message) ? 504 : 502;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${target.name}: ${status}`);
    });
    req.pipe(upstream);
  }

  const server: Server = createServer(forward);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(0, '127.0.0.1', resolve);
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
