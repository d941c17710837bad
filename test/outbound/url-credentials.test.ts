import {
  createMemoryAuditSink,
  createPassthrough,
  type CredentialStrategy,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { refusal } from '../helpers/refusal.js';
import { alice, USER_TOKEN } from './outbound-fixtures.js';

let upstream: RecordingUpstream;
let audit: MemoryAuditSink;
beforeAll(async () => {
  upstream = await createRecordingUpstream();
});
afterAll(() => upstream.close());
beforeEach(() => {
  audit = createMemoryAuditSink();
  upstream.received.length = 0;
});

const MINTED = 'minted.eyJzdWIiOiJ1LWFsaWNlIiwiYWN0Ijp7fX0.bWludGVkLXNpZw';

function passthrough(strategy?: CredentialStrategy) {
  return createPassthrough({
    upstreams: {
      df: {
        origin: upstream.origin,
        audience: 'dreamfactory-api',
        ...(strategy === undefined ? {} : { strategy }),
      },
    },
    audit,
  });
}

const call = (url: string, strategy?: CredentialStrategy) =>
  passthrough(strategy).forIdentity(alice())(url);

describe('credential query parameters, in any spelling', () => {
  test.each([
    'access_token',
    'ACCESS_TOKEN',
    'Access-Token',
    'token',
    'Token',
    'jwt',
    'api_key',
    'API_KEY',
    'apikey',
    'api-key',
    'session_token',
    'id_token',
    'refresh_token',
    'auth_token',
    'acc%65ss_token',
  ])('?%s=... is refused, nothing is sent', async (name) => {
    const error = await refusal(call(`${upstream.origin}/api/v2/db/_table/t?${name}=abc&limit=1`));
    expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(error.message).toMatch(/credential/i);
    expect(upstream.received).toHaveLength(0);
    expect(audit.events[0]).toMatchObject({ outcome: 'denied', reason: 'invalid_request' });
  });

  test.each(['tokens_used', 'limit', 'filter', 'key_field'])(
    'positive control: ?%s=... goes through',
    async (name) => {
      const res = await call(`${upstream.origin}/t?${name}=token`);
      await res.text();
      expect(upstream.received).toHaveLength(1);
    },
  );
});

describe("the user's own credential anywhere in the URL", () => {
  const encoded = (text: string) =>
    Array.from(text, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
  test.each([
    ['the path', (t: string) => `/api/v2/files/${t}`],
    ['a query value', (t: string) => `/t?filter=${t}`],
    ['a query name', (t: string) => `/t?${t}=1`],
    ['the fragment', (t: string) => `/t#${t}`],
    ['the path, percent-encoded', (t: string) => `/x/${encoded(t)}`],
    ['a query value, percent-encoded', (t: string) => `/t?q=${encodeURIComponent(encoded(t))}`],
    ['a query value, partly encoded', (t: string) => `/t?q=${t.slice(0, 5)}${encoded(t.slice(5))}`],
  ])('in %s: token_in_url, nothing sent, audited without the token', async (_label, where) => {
    for (const [token, strategy] of [
      [USER_TOKEN, undefined],
      [MINTED, { name: 'mint-like', credentialFor: () => Promise.resolve(MINTED) }],
    ] as const) {
      audit.clear();
      const error = await refusal(call(`${upstream.origin}${where(token)}`, strategy));
      expect(error).toMatchObject({ code: 'token_in_url', status: 400 });
      expect(error.message).toMatch(/credential/);
      expect(error.message).not.toContain(token);
      expect(upstream.received).toHaveLength(0);
      expect(audit.events).toHaveLength(1);
      expect(audit.events[0]).toMatchObject({
        action: 'forward',
        outcome: 'denied',
        reason: 'token_in_url',
        resource: `GET ${upstream.origin}`,
        filters: null,
      });
      const recorded = JSON.stringify(audit.events);
      expect(recorded).not.toContain(token);
      expect(recorded).not.toContain(token.slice(-12));
    }
  });

  test('userinfo is refused as before', async () => {
    await expect(
      call(upstream.origin.replace('http://', 'http://alice:pw@') + '/t'),
    ).rejects.toMatchObject({ code: 'invalid_request' });
    expect(upstream.received).toHaveLength(0);
  });

  test('positive control: a URL with part of a token, or another token, goes through', async () => {
    upstream.respond((_req, res) => res.writeHead(200).end('ok'));
    for (const url of [`/t?q=${USER_TOKEN.slice(0, 20)}`, '/t?q=eyJhbGciOiJIUzI1NiJ9.e30.x']) {
      await (await call(`${upstream.origin}${url}`)).text();
    }
    expect(upstream.received).toHaveLength(2);
  });

  test('a redirect to a URL carrying the credential is not followed', async () => {
    upstream.respond((req, res) =>
      res
        .writeHead(302, { location: `/collect?c=${String(req.headers['authorization']).slice(7)}` })
        .end(),
    );
    await expect(call(`${upstream.origin}/go`)).rejects.toMatchObject({ code: 'token_in_url' });
    expect(upstream.received.map((req) => req.url)).toEqual(['/go']);
    expect(JSON.stringify(audit.events)).not.toContain(USER_TOKEN);
  });
});
