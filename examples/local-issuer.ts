import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** Default audience of the tokens: the AI backend's API identifier. */
export const LOCAL_AUDIENCE = 'api://ai-assistant';

type Alg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA';

interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export type Claims = Record<string, unknown>;

/**
 * A real, local token issuer for the demo and the tests: fresh keys per run, a JWKS endpoint
 * served over HTTP on 127.0.0.1, key rotation, and an endpoint that can go down, hang, or come
 * back. It stands in for Entra ID, Okta, Auth0 or Keycloak; nothing here is for production.
 */
export interface LocalIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** How many times the JWKS endpoint was asked for keys. */
  readonly jwksRequests: number;
  /** The kid new tokens are signed with. */
  readonly currentKid: string;
  sign(
    claims?: Claims,
    options?: { kid?: string; header?: Record<string, unknown> },
  ): Promise<string>;
  /** Signs a payload given as raw JSON text (for values JSON.stringify cannot produce). */
  signRaw(payload: string, header?: Record<string, unknown>): Promise<string>;
  /** Adds a new key and signs with it from now on; returns its kid. */
  rotate(): Promise<string>;
  /** Stops publishing a key (tokens signed with it must stop working). */
  unpublish(kid: string): void;
  publicJwk(kid?: string): JWK;
  /** `down`: connections refused; `hang`: accepted, never answered; `up`: normal. */
  setMode(mode: 'up' | 'down' | 'hang' | 'error500'): Promise<void>;
  close(): Promise<void>;
}

export async function createLocalIssuer(
  options: { alg?: Alg; issuer?: string } = {},
): Promise<LocalIssuer> {
  const alg = options.alg ?? 'RS256';
  const keys: SigningKey[] = [await newKey(alg)];
  let current = keys[0] as SigningKey;
  let published = new Set([current.kid]);
  let jwksRequests = 0;
  let mode: 'up' | 'down' | 'hang' | 'error500' = 'up';
  const hanging = new Set<ServerResponse>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    jwksRequests += 1;
    if (mode === 'hang') {
      hanging.add(res);
      return;
    }
    if (mode === 'error500') {
      res.writeHead(500).end('internal error');
      return;
    }
    const body = JSON.stringify({
      keys: keys.filter((key) => published.has(key.kid)).map((key) => key.publicJwk),
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  };

  let server: Server = createServer(handler);
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const issuer = options.issuer ?? `${base}/`;

  async function stopServer(): Promise<void> {
    for (const res of hanging) res.destroy();
    hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  return {
    issuer,
    jwksUri: `${base}/jwks.json`,
    get jwksRequests() {
      return jwksRequests;
    },
    get currentKid() {
      return current.kid;
    },
    async sign(claims = {}, signOptions = {}) {
      const key =
        keys.find((candidate) => candidate.kid === (signOptions.kid ?? current.kid)) ?? current;
      const now = Math.floor(Date.now() / 1000);
      const payload: Claims = {
        iss: issuer,
        aud: LOCAL_AUDIENCE,
        sub: 'user-alice',
        preferred_username: 'alice',
        email: 'alice@example.com',
        name: 'Alice Example',
        scope: 'openid orders.read',
        iat: now,
        exp: now + 300,
        jti: randomUUID(),
        ...claims,
      };
      for (const [name, value] of Object.entries(payload)) {
        if (value === undefined) delete payload[name];
      }
      const header: Record<string, unknown> = {
        alg: key.alg,
        kid: key.kid,
        typ: 'JWT',
        ...signOptions.header,
      };
      // jose refuses to sign critical extensions it is not told about; tests need them signed.
      const crit = Array.isArray(header['crit'])
        ? Object.fromEntries((header['crit'] as string[]).map((name) => [name, true]))
        : undefined;
      return new SignJWT(payload)
        .setProtectedHeader(header as { alg: string })
        .sign(key.privateKey, crit === undefined ? undefined : { crit });
    },
    async signRaw(payload, header = {}) {
      return new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: current.alg, kid: current.kid, ...header })
        .sign(current.privateKey);
    },
    async rotate() {
      const key = await newKey(alg);
      keys.push(key);
      published.add(key.kid);
      current = key;
      return key.kid;
    },
    unpublish(kid) {
      published = new Set([...published].filter((candidate) => candidate !== kid));
    },
    publicJwk(kid) {
      const key = keys.find((candidate) => candidate.kid === (kid ?? current.kid));
      if (key === undefined) throw new Error(`no key ${kid}`);
      return key.publicJwk;
    },
    async setMode(next) {
      if (next === 'down' && mode !== 'down') await stopServer();
      if (next !== 'down' && mode === 'down') {
        server = createServer(handler);
        await listen(server, port);
      }
      if (next !== 'hang') {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
      mode = next;
    },
    async close() {
      if (mode !== 'down') await stopServer();
      mode = 'down';
    },
  };
}

async function newKey(alg: Alg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { crv: 'Ed25519' } : {},
  );
  const kid = randomUUID();
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** Base64url of a JSON value (or of a string as it is), for hand-made tokens. */
export function b64urlJson(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}
