import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  authenticate,
  createPassthrough,
  createWinstonAuditSink,
  identityErrorHandler,
  requireUser,
  type AuditSink,
} from '../../lib/index.js';
import { waitForJsonLines } from '../helpers/files.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';

const API_KEY = 'df-app-key-2f1c9e7b55d0';
const COOKIE = 'sid=s%3Asecret-session-cookie-9a8b';

let idp: TestIssuer;
let upstream: RecordingUpstream;
let foreign: RecordingUpstream;
let dir: string;

beforeAll(async () => {
  idp = await createTestIssuer();
  upstream = await createRecordingUpstream();
  foreign = await createRecordingUpstream();
  dir = mkdtempSync(join(tmpdir(), 'eip-redaction-'));
});
afterAll(async () => {
  await closeServers();
  await Promise.all([idp.close(), upstream.close(), foreign.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe.each(EXPRESS_VERSIONS)('passthrough behind authenticate() on %s', (name, express) => {
  function app(audit: AuditSink) {
    const passthrough = createPassthrough({
      upstreams: {
        dreamfactory: {
          origin: upstream.origin,
          audience: 'dreamfactory-api',
          headers: { 'X-DreamFactory-API-Key': API_KEY },
        },
      },
      audit,
    });
    // Agent tool code: no req in sight, it fetches as whoever the request belongs to.
    const tool = async (target: string) => (await passthrough.fetch(target)).json();
    const server = express();
    server.use(
      authenticate({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri, audit }),
    );
    server.get('/ai/orders', requireUser(), (req, res, next) => {
      const target =
        typeof req.query['url'] === 'string'
          ? req.query['url']
          : `${upstream.origin}/api/v2/db/_table/orders`;
      tool(target).then((data) => res.json(data), next);
    });
    server.use(identityErrorHandler());
    return server;
  }

  beforeEach(() => {
    upstream.received.length = 0;
    foreign.received.length = 0;
    upstream.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"resource":[{"id":1}]}'),
    );
  });

  test("the user's own token arrives, and no other credential ever does", async () => {
    const audit = createWinstonAuditSink({ filename: join(dir, `ok-${name}.log`) });
    const agent = await serve(app(audit));
    const token = await idp.sign({ aud: [TEST_AUDIENCE, 'dreamfactory-api'] });
    const res = await agent
      .get('/ai/orders')
      .set('Authorization', `Bearer ${token}`)
      .set('Cookie', COOKIE);
    expect(res.body).toEqual({ resource: [{ id: 1 }] });
    expect(upstream.received.map((req) => req.headers['authorization'])).toEqual([
      `Bearer ${token}`,
    ]);
    expect(upstream.received[0]?.headers['cookie']).toBeUndefined();
  });

  test('a token not issued for the upstream: the user gets a clear 403 and nothing is sent', async () => {
    const agent = await serve(
      app(createWinstonAuditSink({ filename: join(dir, `aud-${name}.log`) })),
    );
    const res = await agent.get('/ai/orders').set('Authorization', `Bearer ${await idp.sign()}`);
    expectRefusal(res, { status: 403, code: 'upstream_audience_mismatch' });
    expect(upstream.received).toHaveLength(0);
  });

  test('a prompt-injected URL: 403 upstream_not_allowed and the foreign server sees nothing', async () => {
    const agent = await serve(
      app(createWinstonAuditSink({ filename: join(dir, `inj-${name}.log`) })),
    );
    const token = await idp.sign({ aud: [TEST_AUDIENCE, 'dreamfactory-api'] });
    const res = await agent
      .get('/ai/orders')
      .query({ url: `${foreign.origin}/collect` })
      .set('Authorization', `Bearer ${token}`);
    expectRefusal(res, { status: 403, code: 'upstream_not_allowed' });
    expect(foreign.received).toHaveLength(0);
  });

  test('redaction: no token, signature, API key or cookie in any log line, body or event, on any path', async () => {
    const file = join(dir, `redaction-${name}.log`);
    const audit = createWinstonAuditSink({ filename: file });
    const agent = await serve(app(audit));
    const good = await idp.sign({ aud: [TEST_AUDIENCE, 'dreamfactory-api'] });
    const expired = await idp.sign({
      aud: [TEST_AUDIENCE, 'dreamfactory-api'],
      exp: Math.floor(Date.now() / 1000) - 600,
    });
    const [h, p, s] = good.split('.') as [string, string, string];
    const tampered = `${h}.${p.slice(0, -2)}AA.${s}`;
    const bodies: string[] = [];
    const send = async (request: ReturnType<typeof agent.get>) => {
      const res = await request.set('Cookie', COOKIE).set('X-DreamFactory-API-Key', API_KEY);
      bodies.push(JSON.stringify(res.body), JSON.stringify(res.headers));
    };
    upstream.respond((_req, res) =>
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}'),
    );
    await send(agent.get('/ai/orders').set('Authorization', `Bearer ${good}`));
    upstream.respond((req, res) =>
      res
        .writeHead(302, {
          location: `${foreign.origin}/x?leak=${req.headers['authorization'] ?? ''}`,
        })
        .end(),
    );
    await send(agent.get('/ai/orders').set('Authorization', `Bearer ${good}`));
    await send(agent.get('/ai/orders').set('Authorization', `Bearer ${expired}`));
    await send(agent.get('/ai/orders').set('Authorization', `Bearer ${tampered}`));
    await send(agent.get(`/ai/orders?access_token=${good}`));
    await send(agent.get('/ai/orders').set('Authorization', good));
    await send(
      agent
        .get('/ai/orders')
        .set('Authorization', `Bearer ${good}`)
        .query({ url: `${foreign.origin}/c?t=${good}` }),
    );
    const lines = JSON.stringify(await waitForJsonLines(file, 10));
    const everything = [lines, readFileSync(file, 'utf8'), ...bodies].join('\n');
    for (const secret of [
      good,
      s,
      expired.split('.')[2]!,
      tampered,
      API_KEY,
      COOKIE,
      'secret-session-cookie',
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect(foreign.received).toHaveLength(0);
  });
});
