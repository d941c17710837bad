// The diagnostics channels as a subscriber sees them, fed by real servers: a JWKS issuer behind
// authenticate(), slapd for directory calls, a recording upstream for forwarded calls.
import express from 'express';
import { Client } from 'ldapts';
import {
  authenticate,
  createBearerAuthenticator,
  createMemoryAuditSink,
  createPassthrough,
  DIAGNOSTICS_CHANNELS,
  identityErrorHandler,
  requireUser,
  type AuditEvent,
  type DecisionMessage,
  type DirectoryMessage,
  type ForwardMessage,
  type JwksFetchMessage,
  type TokenCacheMessage,
} from '../../lib/index.js';
import {
  decisionChannel,
  directoryChannel,
  forwardChannel,
  jwksFetchChannel,
  publishTokenCacheLookup,
  tokenCacheChannel,
  tracingEventName,
} from '../../lib/core/diagnostics.js';
import { createIdentity } from '../../lib/core/identity.js';
import { createLdapAuthenticator } from '../../lib/ldap.js';
import { withConnection } from '../../lib/sign-in/ldap/ldap-connection.js';
import { freePort } from '../helpers/child-server.js';
import { serve } from '../helpers/http.js';
import { createRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';
import { createTestIssuer, TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';
import { recordChannel, waitFor } from './channel-recorder.js';

const idp = useTestIssuer();
let slapd: Slapd;
let upstream: RecordingUpstream;

beforeAll(async () => {
  [slapd, upstream] = await Promise.all([startSlapd(), createRecordingUpstream()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([slapd.stop(), upstream.close()]);
});

const JWKS_START = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'start');
const JWKS_END = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'asyncEnd');
const JWKS_ERROR = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'error');
const DIRECTORY_START = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'start');
const DIRECTORY_END = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'asyncEnd');

test('the channel names carry the package prefix, and nothing listens until someone subscribes', () => {
  expect(Object.values(DIAGNOSTICS_CHANNELS)).toEqual([
    'express-identity-passthrough:decision',
    'express-identity-passthrough:jwks-fetch',
    'express-identity-passthrough:directory',
    'express-identity-passthrough:forward',
    'express-identity-passthrough:token-cache',
  ]);
  const channels = [decisionChannel, forwardChannel, tokenCacheChannel];
  const tracing = [jwksFetchChannel, directoryChannel];
  expect([...channels, ...tracing].map((channel) => channel.hasSubscribers)).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
  const recordings = [
    recordChannel(DIAGNOSTICS_CHANNELS.decision),
    recordChannel(DIAGNOSTICS_CHANNELS.forward),
    recordChannel(DIAGNOSTICS_CHANNELS.tokenCache),
    recordChannel(JWKS_END),
    recordChannel(DIRECTORY_START),
  ];
  expect([...channels, ...tracing].every((channel) => channel.hasSubscribers)).toBe(true);
  for (const recording of recordings) recording.stop();
  expect([...channels, ...tracing].some((channel) => channel.hasSubscribers)).toBe(false);
});

describe('decision channel', () => {
  function app(audit: ReturnType<typeof createMemoryAuditSink>) {
    const server = express();
    server.use(
      authenticate({ issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri, audit }),
    );
    server.get('/ai/chat', requireUser(), (req, res) => {
      res.json({ user: req.identity?.username });
    });
    server.use(identityErrorHandler());
    return server;
  }

  test('every audit event is published as the audit trail gets it, with the user', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(app(audit));
    const decisions = recordChannel<DecisionMessage>(DIAGNOSTICS_CHANNELS.decision);
    try {
      const res = await agent.get('/ai/chat').set('Authorization', `Bearer ${await idp.sign()}`);
      expect(res.status).toBe(200);
      await waitFor(() => decisions.messages.length >= 1, 'the authorize decision');
    } finally {
      decisions.stop();
    }
    expect(decisions.messages).toEqual([
      expect.objectContaining({
        action: 'authorize',
        outcome: 'allowed',
        reason: 'ok',
        user: 'alice',
        resource: 'GET /ai/chat',
      }),
    ]);
    expect(decisions.messages).toEqual(audit.events as AuditEvent[]);
  });

  test('a wrong-audience refusal carries the audience the token carried, bounded', async () => {
    const audit = createMemoryAuditSink();
    const agent = await serve(app(audit));
    const decisions = recordChannel<DecisionMessage>(DIAGNOSTICS_CHANNELS.decision);
    const aud = ['api://reports', ...Array.from({ length: 7 }, (_, i) => `${i}`.repeat(300))];
    try {
      const token = await idp.sign({ aud });
      const res = await agent.get('/ai/chat').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      await waitFor(() => decisions.messages.length >= 1, 'the refusal');
    } finally {
      decisions.stop();
    }
    const [refusal] = decisions.messages;
    expect(refusal).toMatchObject({ outcome: 'denied', reason: 'token_audience_invalid' });
    const carried = refusal?.details['carried'] as string[];
    expect(carried).toHaveLength(5);
    expect(carried[0]).toBe('api://reports');
    expect(carried.slice(1).every((value) => value.length === 200)).toBe(true);
    expect(refusal?.details['expected']).toEqual([TEST_AUDIENCE]);
  });
});

describe('JWKS fetch channel', () => {
  test('start names the URL; the end adds outcome, keys and duration', async () => {
    const starts = recordChannel<JwksFetchMessage>(JWKS_START);
    const ends = recordChannel<JwksFetchMessage>(JWKS_END);
    try {
      await createBearerAuthenticator({
        issuer: idp.issuer,
        audience: TEST_AUDIENCE,
        jwksUri: idp.jwksUri,
      }).warm();
    } finally {
      starts.stop();
      ends.stop();
    }
    expect(starts.messages).toEqual([expect.objectContaining({ url: idp.jwksUri })]);
    expect(starts.messages[0]?.outcome).toBeUndefined();
    expect(ends.messages).toEqual([
      expect.objectContaining({ url: idp.jwksUri, outcome: 'ok', keys: 1, errorCode: null }),
    ]);
    expect(ends.messages[0]?.durationMs).toBeGreaterThanOrEqual(0);
    // The document stays off the message: subscribers get the count.
    expect((ends.messages[0] as { result?: unknown }).result).toBeUndefined();
  });

  test.each([
    ['error500', 'http_500'],
    ['hang', 'timeout'],
    ['down', 'unreachable'],
  ] as const)('an endpoint in mode %s fails with the code %s', async (mode, code) => {
    const issuer = await createTestIssuer();
    const ends = recordChannel<JwksFetchMessage>(JWKS_END);
    const errors = recordChannel<JwksFetchMessage>(JWKS_ERROR);
    try {
      await issuer.setMode(mode);
      const warm = createBearerAuthenticator({
        issuer: issuer.issuer,
        audience: TEST_AUDIENCE,
        jwksUri: issuer.jwksUri,
        jwksTimeoutMs: 300,
      }).warm();
      await expect(warm).rejects.toMatchObject({ code: 'identity_provider_unavailable' });
    } finally {
      ends.stop();
      errors.stop();
      await issuer.close();
    }
    expect(ends.messages).toEqual([
      expect.objectContaining({ url: issuer.jwksUri, outcome: 'error', errorCode: code }),
    ]);
    expect(ends.messages[0]?.keys).toBeUndefined();
    expect(errors.messages).toHaveLength(1);
    expect(errors.messages[0]?.error).toMatchObject({ name: expect.any(String) });
  });
});

describe('directory channel', () => {
  const { alice } = SLAPD_USERS;
  const port = (url: string) => Number(new URL(url).port);
  const directory = (portNumber = port(slapd.ldapsUrl)) =>
    createLdapAuthenticator({
      type: 'ldap',
      host: '127.0.0.1',
      port: portNumber,
      ca: slapd.ca,
      baseDn: SLAPD_BASE_DN,
      bindDn: SLAPD_READER.dn,
      bindPassword: SLAPD_READER.password,
      connectTimeoutMs: 1_000,
    });

  test('a sign-in publishes each bind and search: URL, duration, outcome, never a DN or password', async () => {
    const starts = recordChannel<DirectoryMessage>(DIRECTORY_START);
    const ends = recordChannel<DirectoryMessage>(DIRECTORY_END);
    try {
      const identity = await directory().authenticate({
        username: alice.uid,
        password: alice.password,
      });
      expect(identity.username).toBe('alice');
    } finally {
      starts.stop();
      ends.stop();
    }
    const url = `ldaps://127.0.0.1:${port(slapd.ldapsUrl)}`;
    expect(ends.messages.slice(0, 4).map((message) => message.operation)).toEqual([
      'bind',
      'search',
      'bind',
      'bind',
    ]);
    expect(ends.messages.length).toBe(starts.messages.length);
    for (const message of ends.messages) {
      expect(message).toMatchObject({ url, outcome: 'ok', errorCode: null });
      expect(message.durationMs).toBeGreaterThanOrEqual(0);
      // A search result holds people's entries: it stays off the message.
      expect((message as { result?: unknown }).result).toBeUndefined();
    }
    const text = JSON.stringify([starts.messages, ends.messages]);
    for (const secret of [alice.password, SLAPD_READER.password, alice.dn, 'alice']) {
      expect(text).not.toContain(secret);
    }
  });

  test('a wrong password is a refusal by a reachable directory', async () => {
    const ends = recordChannel<DirectoryMessage>(DIRECTORY_END);
    try {
      const signIn = directory().authenticate({ username: alice.uid, password: 'wrong-Pass-1' });
      await expect(signIn).rejects.toMatchObject({ code: 'invalid_credentials' });
    } finally {
      ends.stop();
    }
    expect(ends.messages.map((message) => [message.operation, message.outcome])).toEqual([
      ['bind', 'ok'],
      ['search', 'ok'],
      ['bind', 'refused'],
    ]);
    expect(ends.messages[2]?.errorCode).toBe('invalid_credentials');
    expect(JSON.stringify(ends.messages)).not.toContain('wrong-Pass-1');
  });

  test('a directory nobody answers for is an error: unreachable', async () => {
    const closed = await freePort();
    const ends = recordChannel<DirectoryMessage>(DIRECTORY_END);
    try {
      const signIn = directory(closed).authenticate({ username: alice.uid, password: 'x-Pass-1' });
      await expect(signIn).rejects.toMatchObject({ code: 'identity_provider_unavailable' });
    } finally {
      ends.stop();
    }
    expect(ends.messages).toEqual([
      expect.objectContaining({
        url: `ldaps://127.0.0.1:${closed}`,
        operation: 'bind',
        outcome: 'error',
        errorCode: 'unreachable',
      }),
    ]);
  });

  test('with nobody listening, the connection uses the client as created: no wrapper', async () => {
    const created = new Client({ url: slapd.url });
    const settings = {
      url: slapd.url,
      host: '127.0.0.1',
      startTls: false,
      tlsOptions: undefined,
      connectTimeoutMs: 1_000,
      timeoutMs: 1_000,
      createClient: () => created,
    };
    expect(await withConnection(settings, 1, (client) => Promise.resolve(client === created))).toBe(
      true,
    );
    const ends = recordChannel(DIRECTORY_END);
    try {
      expect(
        await withConnection(settings, 1, (client) => Promise.resolve(client === created)),
      ).toBe(false);
    } finally {
      ends.stop();
    }
  });
});

describe('forward channel', () => {
  const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJlLXNlY3JldA';
  const alice = () =>
    createIdentity(
      {
        subject: 'u-alice',
        issuer: 'https://idp.example.com/',
        provider: 'jwt',
        kind: 'user',
        username: 'alice',
        groups: [],
        roles: [],
        scopes: [],
        attributes: {},
        tokenId: 'jti-1',
      },
      {
        type: 'bearer',
        value: TOKEN,
        audience: ['reports-api'],
        expiresAt: Math.floor(Date.now() / 1000) + 300,
      },
    );
  const passthrough = () =>
    createPassthrough({
      upstreams: { reports: { origin: upstream.origin, audience: 'reports-api' } },
      audit: createMemoryAuditSink(),
    });

  test('a call publishes upstream, method, server, status, duration and user when it ends', async () => {
    upstream.respond((_req, res) => res.writeHead(200).end('{}'));
    const forwards = recordChannel<ForwardMessage>(DIAGNOSTICS_CHANNELS.forward);
    try {
      const res = await passthrough().forIdentity(alice())(`${upstream.origin}/reports/1?x=1`);
      await res.text();
      await waitFor(() => forwards.messages.length >= 1, 'the forward');
    } finally {
      forwards.stop();
    }
    const { port } = new URL(upstream.origin);
    expect(forwards.messages).toEqual([
      expect.objectContaining({
        upstream: 'reports',
        method: 'GET',
        serverAddress: '127.0.0.1',
        serverPort: Number(port),
        status: 200,
        outcome: 'allowed',
        reason: 'ok',
        user: 'alice',
      }),
    ]);
    expect(forwards.messages[0]?.durationMs).toBeGreaterThanOrEqual(0);
    expect(forwards.messages[0]?.event).toMatchObject({ action: 'forward', upstream: 'reports' });
    expect(JSON.stringify(forwards.messages)).not.toContain(TOKEN.split('.')[2]);
  });

  test('an upstream error is published with its status and the outcome error', async () => {
    upstream.respond((_req, res) => res.writeHead(503).end('busy'));
    const forwards = recordChannel<ForwardMessage>(DIAGNOSTICS_CHANNELS.forward);
    try {
      const res = await passthrough().forIdentity(alice())(`${upstream.origin}/reports/2`);
      await res.text();
      await waitFor(() => forwards.messages.length >= 1, 'the forward');
    } finally {
      forwards.stop();
    }
    expect(forwards.messages).toEqual([
      expect.objectContaining({ status: 503, outcome: 'error', reason: 'upstream_503' }),
    ]);
  });
});

describe('token-cache channel', () => {
  test('a lookup publishes { hit } to subscribers, and nothing without them', () => {
    publishTokenCacheLookup(true);
    const lookups = recordChannel<TokenCacheMessage>(DIAGNOSTICS_CHANNELS.tokenCache);
    try {
      publishTokenCacheLookup(false);
      publishTokenCacheLookup(true);
    } finally {
      lookups.stop();
    }
    publishTokenCacheLookup(true);
    expect(lookups.messages).toEqual([{ hit: false }, { hit: true }]);
  });
});
