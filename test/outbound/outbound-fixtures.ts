import type { ServerResponse } from 'node:http';
import { createIdentity, type Identity } from '../../lib/core/identity.js';

/** The user's bearer token in the outbound tests: it must never appear in an event or a URL. */
export const USER_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJlLWFsaWNl';

/** A signed-in person whose token names `dreamfactory-api` (and `reports-api`). */
export function alice(overrides: { token?: string; audience?: string[] } = {}): Identity {
  return createIdentity(
    {
      subject: 'u-alice',
      issuer: 'https://idp.example.com/',
      provider: 'jwt',
      kind: 'user',
      username: 'alice',
      groups: [],
      roles: ['sales_readonly'],
      scopes: [],
      attributes: {},
      tokenId: 'jti-alice',
    },
    {
      type: 'bearer',
      value: overrides.token ?? USER_TOKEN,
      audience: overrides.audience ?? ['dreamfactory-api', 'reports-api'],
      expiresAt: Math.floor(Date.now() / 1000) + 300,
    },
  );
}

/**
 * Answers 200 JSON and then trickles the body, one small chunk every `everyMs`, for at most
 * `chunks` chunks (or until the client goes): an upstream still streaming at the timeout.
 */
export function trickle(res: ServerResponse, options: { chunks: number; everyMs: number }): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('[0');
  let sent = 0;
  const timer = setInterval(() => {
    sent += 1;
    if (sent >= options.chunks) {
      clearInterval(timer);
      res.end(']');
    } else {
      res.write(`,${sent}`);
    }
  }, options.everyMs);
  res.on('close', () => clearInterval(timer));
}
