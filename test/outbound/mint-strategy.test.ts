import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import {
  authenticate,
  createMemoryAuditSink,
  createPassthrough,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  jwksRoute,
  mintStrategy,
  requireUser,
  type IssuedSession,
  type MemoryAuditSink,
  type MintStrategyOptions,
  type SessionTokens,
} from '../../lib/index.js';
import { subjectFor } from '../../lib/tokens/token-claims.js';
import { createIdentity } from '../../lib/core/identity.js';
import { closeServers, EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';

// A passthrough whose upstream gets a token minted for it alone, never the user's session token.

const ISSUER = 'http://127.0.0.1/assistant';
const AUDIENCE = 'api://ai-assistant';
const ORDERS_AUDIENCE = 'https://orders.internal';
const AGENT = 'ai-assistant';
const SUBJECT = 'uid=alice,ou=people,dc=example,dc=com';

const alice = () =>
  createIdentity({
    subject: SUBJECT,
    issuer: 'ldaps://dc1.example.com',
    provider: 'ldap',
    kind: 'user',
    username: 'alice',
    email: 'alice@example.com',
    groups: ['Sales-Team'],
    roles: ['sales_readonly'],
    scopes: [],
    attributes: {},
  });

let upstream: RecordingUpstream;

beforeAll(async () => {
  upstream = await createRecordingUpstream();
});
afterAll(async () => {
  await closeServers();
  await upstream.close();
});
beforeEach(() => {
  upstream.received.length = 0;
});

function sessionTokens(options: { sessionTtlMin?: number } = {}): SessionTokens {
  return createSessionTokens({
    issuer: ISSUER,
    audience: AUDIENCE,
    signingKeys: [generateSigningKey()],
    ...options,
  });
}

describe('mintStrategy() options', () => {
  const tokens = sessionTokens();

  test.each([
    ['no agent', { tokens }, /^mintStrategy: option "agent"/],
    ['an empty agent', { tokens, agent: '' }, /option "agent"/],
    [
      'tokens that are not a token service',
      { tokens: {}, agent: AGENT },
      'option "tokens" must be the object createSessionTokens() returns',
    ],
    ['ttlSec under 10', { tokens, agent: AGENT, ttlSec: 5 }, /option "ttlSec"/],
    ['ttlSec over 3600', { tokens, agent: AGENT, ttlSec: 3_601 }, /option "ttlSec"/],
    [
      'a misspelled option',
      { tokens, agent: AGENT, ttlsec: 60 },
      'unknown option "ttlsec" (did you mean "ttlSec"?)',
    ],
  ])('%s: refused', (_case, options, message) => {
    expect(() => mintStrategy(options as unknown as MintStrategyOptions)).toThrow(TypeError);
    expect(() => mintStrategy(options as unknown as MintStrategyOptions)).toThrow(message);
  });

  test("an upstream whose audience is the session tokens' own: refused when the passthrough is created", () => {
    const create = () =>
      createPassthrough({
        upstreams: {
          orders: {
            origin: upstream.origin,
            audience: AUDIENCE,
            strategy: mintStrategy({ tokens, agent: AGENT }),
          },
        },
        audit: createMemoryAuditSink(),
      });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(
      `option "upstreams.orders.audience": it equals the session tokens' audience ("${AUDIENCE}")`,
    );
  });
});

describe.each(EXPRESS_VERSIONS)('mintStrategy() behind authenticate() on %s', (_name, express) => {
  let audit: MemoryAuditSink;

  async function start(tokens: SessionTokens, strategy: Partial<MintStrategyOptions> = {}) {
    audit = createMemoryAuditSink();
    const passthrough = createPassthrough({
      upstreams: {
        orders: {
          origin: upstream.origin,
          audience: ORDERS_AUDIENCE,
          strategy: mintStrategy({ tokens, agent: AGENT, ...strategy }),
        },
      },
      audit,
    });
    const app = express();
    app.get('/.well-known/jwks.json', jwksRoute(tokens));
    app.use('/ai', authenticate({ issuers: [tokens.trustedIssuer()], audit }));
    app.get('/ai/orders', requireUser(), (_req, res, next) => {
      passthrough
        .fetch(`${upstream.origin}/api/v2/db/_table/orders`)
        .then(async (response) => res.status(response.status).json(await response.json()), next);
    });
    app.use(identityErrorHandler());
    const agent = await serve(app);
    const jwksUrl = (await agent.get('/.well-known/jwks.json')).request.url;
    return { agent, jwks: createRemoteJWKSet(new URL(jwksUrl)) };
  }

  const received = () => upstream.received.map((req) => req.headers['authorization'] ?? '');

  test('the upstream gets a token minted for it, verifiable through the served JWKS', async () => {
    const tokens = sessionTokens();
    const { agent, jwks } = await start(tokens);
    const session: IssuedSession = await tokens.issue(alice());
    const res = await agent.get('/ai/orders').set('Authorization', `Bearer ${session.accessToken}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ resource: [] });

    expect(received()).toHaveLength(1);
    const [scheme, minted] = received()[0]!.split(' ');
    expect(scheme).toBe('Bearer');
    const { payload, protectedHeader } = await jwtVerify(minted!, jwks, {
      issuer: ISSUER,
      audience: ORDERS_AUDIENCE,
      typ: 'at+jwt',
    });
    expect(protectedHeader.kid).toBe(tokens.jwks.keys[0]?.kid);
    expect(payload).toMatchObject({
      aud: ORDERS_AUDIENCE,
      // Pairwise with the directory the person came from: distinct across issuers.
      sub: subjectFor(alice(), ISSUER),
      preferred_username: 'alice',
      idp: 'ldap',
      client_id: AGENT,
      act: { sub: AGENT },
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.exp!).toBeLessThanOrEqual(decodeJwt(session.accessToken).exp!);

    // The user's own session credentials never leave the application.
    const everything = JSON.stringify(upstream.received);
    expect(everything).not.toContain(session.accessToken);
    expect(everything).not.toContain(session.refreshToken);
    expect(everything).not.toContain(session.accessToken.split('.')[2]);
  });

  test('each call gets its own token; a custom ttlSec is used', async () => {
    const tokens = sessionTokens();
    const { agent } = await start(tokens, { ttlSec: 60 });
    const session = await tokens.issue(alice());
    for (let i = 0; i < 2; i++) {
      expect(
        (await agent.get('/ai/orders').set('Authorization', `Bearer ${session.accessToken}`))
          .status,
      ).toBe(200);
    }
    const claims = received().map((header) => decodeJwt(header.slice('Bearer '.length)));
    expect(claims).toHaveLength(2);
    expect(claims[0]?.jti).not.toBe(claims[1]?.jti);
    expect(claims.map((claim) => claim.exp! - claim.iat!)).toEqual([60, 60]);
  });

  test("a minted token never outlives the user's session token", async () => {
    const tokens = sessionTokens({ sessionTtlMin: 1 });
    const { agent } = await start(tokens);
    const session = await tokens.issue(alice());
    await agent.get('/ai/orders').set('Authorization', `Bearer ${session.accessToken}`);
    const minted = decodeJwt(received()[0]!.slice('Bearer '.length));
    // 300 seconds were asked for; the session token had 60 left.
    expect(minted.exp).toBe(decodeJwt(session.accessToken).exp);
  });

  test('the minted token cannot be used against the application itself', async () => {
    const tokens = sessionTokens();
    const { agent } = await start(tokens);
    const session = await tokens.issue(alice());
    await agent.get('/ai/orders').set('Authorization', `Bearer ${session.accessToken}`);
    const minted = received()[0]!.slice('Bearer '.length);
    upstream.received.length = 0;
    const res = await agent.get('/ai/orders').set('Authorization', `Bearer ${minted}`);
    expectRefusal(res, { status: 401, code: 'token_claim_missing', bearerError: 'invalid_token' });
    expect(upstream.received).toHaveLength(0);
  });

  test('the forward event records the mint strategy, and no token', async () => {
    const tokens = sessionTokens();
    const { agent } = await start(tokens);
    const session = await tokens.issue(alice());
    await agent.get('/ai/orders').set('Authorization', `Bearer ${session.accessToken}`);
    const forwards = audit.events.filter((event) => event.action === 'forward');
    expect(forwards).toEqual([
      expect.objectContaining({
        outcome: 'allowed',
        user: 'alice',
        provider: 'ldap',
        upstream: 'orders',
        upstream_status: 200,
        resource: `GET ${upstream.origin}/api/v2/db/_table/orders`,
        // The event names the user's session token by its id, not the minted one.
        token_fingerprint: `jti:${decodeJwt(session.accessToken).jti!}`,
      }),
    ]);
    expect(forwards[0]?.details.strategy).toBe('mint');
    const serialized = JSON.stringify(audit.events);
    expect(serialized).not.toContain(session.accessToken);
    expect(serialized).not.toContain(received()[0]!.slice('Bearer '.length));
  });
});
