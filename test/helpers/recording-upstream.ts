import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** A real HTTP upstream on 127.0.0.1 that records every request it receives. */
export interface RecordingUpstream {
  readonly origin: string;
  readonly received: RecordedRequest[];
  /** Replace the response logic; the default answers `{"resource": []}`. */
  respond(handler: (req: RecordedRequest, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

export async function createRecordingUpstream(): Promise<RecordingUpstream> {
  const received: RecordedRequest[] = [];
  let handler = (_req: RecordedRequest, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[]}');
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(recorded);
      handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    respond(next) {
      handler = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
