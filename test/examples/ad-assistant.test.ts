import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { createMemoryAuditSink, generateSigningKey } from '../../lib/index.js';
import { createAdAssistant } from '../../examples/ad-assistant.js';
import request from 'supertest';
import { serverUrl } from '../helpers/http.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';

const { alice, bob } = SLAPD_USERS;

let slapd: Slapd;
beforeAll(async () => {
  slapd = await startSlapd();
}, 60_000);
afterAll(() => slapd.stop());

/**
 * A data API that trusts the assistant's JWKS, as a real one would: it verifies every minted
 * token (audience, issuer) and answers with rows for the token's subject only.
 */
async function dataApi(jwksUrl: () => string, issuer: string) {
  const seen: JWTPayload[] = [];
  const server: Server = createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const keys = createRemoteJWKSet(new URL(jwksUrl()));
    jwtVerify(token, keys, { issuer, audience: 'https://data.example.test', typ: 'at+jwt' }).then(
      ({ payload }) => {
        seen.push(payload);
        const rows = payload['preferred_username'] === 'alice' ? [{ id: 1 }, { id: 2 }] : [];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource: rows }));
      },
      () => {
        res.writeHead(401).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('the AD example: sign in with the directory password, data calls carry a minted token', async () => {
  const issuer = 'https://assistant.example.test';
  let assistantUrl = '';
  let stopAssistant = (): Promise<void> => Promise.resolve();
  const data = await dataApi(() => `${assistantUrl}/.well-known/jwks.json`, issuer);
  try {
    const audit = createMemoryAuditSink();
    const app = createAdAssistant({
      directory: {
        type: 'ldap',
        host: '127.0.0.1',
        port: Number(new URL(slapd.ldapsUrl).port),
        ca: slapd.ca,
        baseDn: SLAPD_BASE_DN,
        bindDn: SLAPD_READER.dn,
        bindPassword: SLAPD_READER.password,
        mapping: { role_mapping: { 'ai-users': 'assistant_user' } },
      },
      sessions: { issuer, signingKeys: [generateSigningKey()] },
      dataApi: { origin: data.origin, audience: 'https://data.example.test' },
      audit,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    assistantUrl = serverUrl(server);
    stopAssistant = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const agent = request(assistantUrl);

    const signIn = await agent
      .post('/auth/session')
      .send({ username: 'alice', password: alice.password });
    expect(signIn.status).toBe(200);
    const token = (signIn.body as { access_token: string }).access_token;
    const chat = await agent.post('/ai/chat').set('Authorization', `Bearer ${token}`).send({});
    expect(chat.body).toMatchObject({ user: 'alice', answer: 'You have 2 order(s).' });

    // The data API saw a token for itself, about alice, asked for by the assistant.
    expect(data.seen).toHaveLength(1);
    expect(data.seen[0]).toMatchObject({
      iss: issuer,
      aud: 'https://data.example.test',
      preferred_username: 'alice',
      idp: 'ldap',
      act: { sub: 'ai-assistant' },
    });
    const minted = data.seen[0] as { exp: number; iat: number };
    expect(minted.exp - minted.iat).toBe(300);
    const forward = audit.events.find((event) => event.action === 'forward');
    expect(forward).toMatchObject({ user: 'alice', outcome: 'allowed', records_returned: 2 });
    expect(forward?.details['strategy']).toBe('mint');

    // bob signs in but has no assistant role: refused before any data call.
    const bobSignIn = await agent
      .post('/auth/session')
      .send({ username: 'bob', password: bob.password });
    const bobChat = await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${(bobSignIn.body as { access_token: string }).access_token}`)
      .send({});
    expect(bobChat.status).toBe(403);
    expect(data.seen).toHaveLength(1);
  } finally {
    await stopAssistant();
    await data.close();
  }
});
