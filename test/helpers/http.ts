import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import type { Response } from 'supertest';

type ExpressFactory = typeof express5;

/** Every HTTP test runs on both Express majors that AI backends use. */
export const EXPRESS_VERSIONS: readonly (readonly [string, ExpressFactory])[] = [
  ['express 5', express5],
  ['express 4', express4],
];

const servers = new Set<Server>();

/** Serves an app on 127.0.0.1 (never another interface) and returns a supertest agent. */
export async function serve(
  app: (req: never, res: never) => void,
): Promise<ReturnType<typeof request>> {
  const server = createServer(app as Parameters<typeof createServer>[1]);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.add(server);
  return request(server);
}

export function serverUrl(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes every server `serve` started; call from afterAll/afterEach. */
export async function closeServers(): Promise<void> {
  await Promise.all(
    [...servers].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
  servers.clear();
}

/**
 * Asserts a refusal as a client sees it: status, body code, and the RFC 6750 challenge
 * (`bearerError: null` asserts a challenge with no error attribute; `undefined` asserts none).
 */
export function expectRefusal(
  res: Response,
  expected: { status: number; code: string; bearerError?: string | null; scope?: string },
): void {
  expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({
    status: expected.status,
    code: expected.code,
  });
  expect(typeof (res.body as { message?: unknown }).message).toBe('string');
  const challenge = res.headers['www-authenticate'];
  if (expected.bearerError === undefined) {
    expect(challenge).toBeUndefined();
  } else if (expected.bearerError === null) {
    expect(challenge).toMatch(/^Bearer/);
    expect(challenge).not.toContain('error=');
  } else {
    expect(challenge).toContain(`error="${expected.bearerError}"`);
    expect(challenge).toMatch(/error_description="[^"]+"/);
  }
  if (expected.scope !== undefined) expect(challenge).toContain(`scope="${expected.scope}"`);
  // Nothing internal leaks: no stack frames, no library names.
  expect(JSON.stringify(res.body)).not.toMatch(
    /at .*\.(ts|js):\d+|node_modules|JWSSignature|JWTExpired|JWTClaim|JOSE|SigningKeyNotFound|Jwks/,
  );
}
