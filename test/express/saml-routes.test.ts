// SAML sign-in against a real IdP (test/helpers/saml-idp.ts: xml-crypto-signed responses) and
// the real node-saml / passport-saml stack, through Express 4 and 5.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import request from 'supertest';
import {
  authenticate,
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  identityErrorHandler,
  requireUser,
  type MemoryAuditSink,
} from '../../lib/index.js';
import { createSamlSignIn, samlRoutes } from '../../lib/saml.js';
import { EXPRESS_VERSIONS, expectRefusal } from '../helpers/http.js';
import {
  createSamlIdp,
  NAMEID_FORMAT,
  XSW_VARIANT_NUMBERS,
  type ResponseInput,
  type SamlIdp,
} from '../helpers/saml-idp.js';

const SP_ENTITY_ID = 'https://assistant.example.test/saml/metadata';
/** The audit reason each XML-signature-wrapping variant is refused with. */
const XSW_REASONS: Record<number, string> = {
  1: 'signature_invalid',
  2: 'signature_invalid',
  3: 'multiple_assertions',
  4: 'signature_invalid',
  5: 'multiple_assertions',
  6: 'signature_invalid',
  7: 'signature_invalid',
  8: 'signature_invalid',
};
const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const ENTRA_ATTRIBUTES = {
  [`${WS}/name`]: 'alice@example.test',
  [`${WS}/emailaddress`]: 'alice@example.test',
  'http://schemas.microsoft.com/identity/claims/displayname': 'Alice Example',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups': ['Sales-Team', 'AI Users'],
};

interface Assistant {
  agent: ReturnType<typeof request>;
  /** The pending-sign-in cookie of the last sign-in this test browser started. */
  pending?: string | undefined;
  idp: SamlIdp;
  origin: string;
  acsUrl: string;
  audit: MemoryAuditSink;
  server: Server;
}

const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function startAssistant(
  express: (typeof EXPRESS_VERSIONS)[number][1],
  sloUrl?: string,
  cookie: { secure?: boolean } = {},
): Promise<Assistant> {
  // The ACS URL names the port, so the server listens before the app exists.
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const acsUrl = `${origin}/auth/saml/acs`;
  const idp = await createSamlIdp({ acsUrl, spEntityId: SP_ENTITY_ID });
  const audit = createMemoryAuditSink();
  const sessions = createSessionTokens({ issuer: origin, signingKeys: [generateSigningKey()] });
  const saml = createSamlSignIn({
    entityId: SP_ENTITY_ID,
    acsUrl,
    idp: {
      entityId: idp.entityId,
      ssoUrl: idp.ssoUrl,
      certificates: [idp.cert],
      ...(sloUrl === undefined ? {} : { sloUrl }),
    },
    preset: 'entra',
    mapping: { role_mapping: { 'Sales-Team': 'sales_readonly' } },
  });
  const app = express();
  // One cookie setting, for the routes that set the cookie and the middleware that reads it.
  app.use('/auth/saml', samlRoutes({ saml, tokens: sessions, audit, cookie }));
  app.use(
    '/ai',
    authenticate({
      issuers: [sessions.trustedIssuer()],
      sessionCookie: { ...cookie, allowedOrigins: [origin] },
      audit,
    }),
  );
  app.get('/ai/whoami', requireUser(), (req, res) => {
    res.json(req.identity);
  });
  app.post('/ai/chat', requireUser({ roles: ['sales_readonly'] }), (req, res) => {
    res.json({ user: req.identity?.username });
  });
  app.use(identityErrorHandler());
  server.on('request', app);
  return { agent: request(server), idp, origin, acsUrl, audit, server };
}

/** Starts a sign-in and returns the id of the AuthnRequest the IdP must answer. */
async function startSignIn(assistant: Assistant, returnTo = '/chat'): Promise<string> {
  const res = await assistant.agent.get(
    `/auth/saml/login?returnTo=${encodeURIComponent(returnTo)}`,
  );
  expect(res.status).toBe(302);
  const cookie = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((value) =>
    value.startsWith('__Host-eip-saml-pending='),
  );
  expect(cookie).toMatch(/; HttpOnly/);
  expect(cookie).toMatch(/; SameSite=None/);
  assistant.pending = cookie?.split(';')[0];
  return assistant.idp.samlRequestId(res.headers['location'] as string);
}

function post(assistant: Assistant, samlResponse: string, relayState = '/chat') {
  const call = assistant.agent.post('/auth/saml/acs').type('form');
  if (assistant.pending !== undefined) void call.set('Cookie', assistant.pending);
  return call.send({ SAMLResponse: samlResponse, RelayState: relayState });
}

function sessionCookie(res: { headers: Record<string, unknown> }): string {
  const cookies = res.headers['set-cookie'] as string[] | undefined;
  const cookie = cookies?.find((value) => value.startsWith('__Host-eip-session='));
  if (cookie === undefined) throw new Error('no session cookie');
  return cookie;
}

describe.each(EXPRESS_VERSIONS)('SAML sign-in on %s', (_name, express) => {
  let assistant: Assistant;
  beforeAll(async () => {
    assistant = await startAssistant(express);
  });
  beforeEach(() => {
    (assistant.audit.events as unknown[]).length = 0;
  });

  const good = (inResponseTo: string, overrides: Partial<ResponseInput> = {}): ResponseInput => ({
    nameId: 'alice@example.test',
    attributes: ENTRA_ATTRIBUTES,
    inResponseTo,
    ...overrides,
  });

  test('a signed response signs in: HttpOnly session cookie, redirect to the same-site path', async () => {
    const id = await startSignIn(assistant);
    const res = await post(assistant, assistant.idp.response(good(id)));
    expect(res.status).toBe(303);
    expect(res.headers['location']).toBe('/chat');
    const cookie = sessionCookie(res);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(res.headers['location']).not.toContain('eyJ');

    const value = cookie.split(';')[0] as string;
    const whoami = await assistant.agent.get('/ai/whoami').set('Cookie', value);
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({
      provider: 'saml',
      kind: 'user',
      username: 'alice@example.test',
      email: 'alice@example.test',
      name: 'Alice Example',
      groups: ['Sales-Team', 'AI Users'],
      roles: ['sales_readonly'],
    });
    expect(assistant.audit.events[0]).toMatchObject({
      action: 'sign_in',
      outcome: 'allowed',
      provider: 'saml',
      user: 'alice@example.test',
      subject: 'alice@example.test',
      issuer: assistant.idp.entityId,
    });
  });

  test("cookie sessions: unsafe requests need the application's own Origin (CSRF)", async () => {
    const id = await startSignIn(assistant);
    const value = sessionCookie(await post(assistant, assistant.idp.response(good(id)))).split(
      ';',
    )[0] as string;
    const forged = await assistant.agent.post('/ai/chat').set('Cookie', value).send({});
    expectRefusal(forged, { status: 403, code: 'csrf_refused' });
    const foreign = await assistant.agent
      .post('/ai/chat')
      .set('Cookie', value)
      .set('Origin', 'https://evil.example')
      .send({});
    expectRefusal(foreign, { status: 403, code: 'csrf_refused' });
    const own = await assistant.agent
      .post('/ai/chat')
      .set('Cookie', value)
      .set('Origin', assistant.origin)
      .send({});
    expect(own.body).toEqual({ user: 'alice@example.test' });
  });

  test('sign-out ends the session and clears the cookie', async () => {
    const id = await startSignIn(assistant);
    const value = sessionCookie(await post(assistant, assistant.idp.response(good(id)))).split(
      ';',
    )[0] as string;
    const foreign = await assistant.agent
      .post('/auth/saml/logout')
      .set('Cookie', value)
      .set('Origin', 'https://evil.example');
    expect(foreign.status).toBe(403);
    const out = await assistant.agent
      .post('/auth/saml/logout')
      .set('Cookie', value)
      .set('Origin', assistant.origin);
    expect(out.status).toBe(303);
    expect(sessionCookie(out)).toMatch(/^__Host-eip-session=;.*Max-Age=0/);
    const after = await assistant.agent.get('/ai/whoami').set('Cookie', value);
    expectRefusal(after, { status: 401, code: 'token_revoked', bearerError: 'invalid_token' });
  });

  test.each([
    ['https://evil.example/phish', '/'],
    ['/.//evil.example/phish', '/'],
    ['/a/..//evil.example', '/'],
    ['/%2e//evil.example', '/'],
    ['//evil.example/phish', '/'],
    ['/\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/reports?q=1#top', '/reports?q=1#top'],
  ])('RelayState %j returns to %j (no open redirect)', async (relayState, location) => {
    const id = await startSignIn(assistant, relayState);
    const res = await post(assistant, assistant.idp.response(good(id)), relayState);
    expect(res.status).toBe(303);
    expect(res.headers['location']).toBe(location);
  });

  test('a comment inside the NameID does not truncate it (CVE-2017-11427 family)', async () => {
    // The attacker owns "admin@example.test.evil.example" at the IdP; a parser that reads only
    // the first text node would sign them in as "admin@example.test".
    const id = await startSignIn(assistant);
    const res = await post(
      assistant,
      assistant.idp.nameIdCommentInjected(
        good(id, { nameId: 'admin@example.test.evil.example' }),
        'admin@example.test'.length,
      ),
    );
    expect(res.status).toBe(303);
    const value = sessionCookie(res).split(';')[0] as string;
    expect((await assistant.agent.get('/ai/whoami').set('Cookie', value)).status).toBe(200);
    const signIn = assistant.audit.events.filter((event) => event.action === 'sign_in').at(-1);
    expect(signIn?.subject).toBe('admin@example.test.evil.example');
  });

  test('login CSRF: a response is accepted only from the browser that started its sign-in', async () => {
    const victimId = await startSignIn(assistant);
    const victimCookie = assistant.pending;
    // The attacker's own sign-in, answered for the attacker, posted from the victim's browser:
    const attackerId = await startSignIn(assistant);
    const attackerResponse = assistant.idp.response(
      good(attackerId, { nameId: 'mallory@example.test' }),
    );
    assistant.pending = victimCookie;
    const crossed = await post(assistant, attackerResponse);
    expectRefusal(crossed, { status: 401, code: 'saml_response_invalid', bearerError: null });
    expect(assistant.audit.events.at(-1)?.details['reason']).toBe('response_for_another_browser');
    // And with no pending sign-in at all:
    assistant.pending = undefined;
    const cookieless = await post(assistant, assistant.idp.response(good(victimId)));
    expectRefusal(cookieless, { status: 401, code: 'saml_response_invalid', bearerError: null });
    expect(assistant.audit.events.at(-1)?.details['reason']).toBe('no_pending_sign_in');
  });

  test('the sign-in request carries only a safe RelayState', async () => {
    const res = await assistant.agent.get('/auth/saml/login?returnTo=https%3A%2F%2Fevil.example');
    expect(assistant.idp.authnRequest(res.headers['location'] as string).relayState).toBe('/');
  });

  test('metadata names the entity ID and the ACS URL', async () => {
    const res = await assistant.agent.get('/auth/saml/metadata');
    expect(res.status).toBe(200);
    expect(res.text).toContain(`entityID="${SP_ENTITY_ID}"`);
    expect(res.text).toContain(`Location="${assistant.acsUrl}"`);
  });

  describe('refused responses: 401 saml_response_invalid and an audit event', () => {
    // The third value is the audit event's `details.reason`: a stable string for every refusal
    // (node-saml's own refusals included), while the client sees one generic message.
    const cases: [string, (idp: SamlIdp, id: string, acsUrl: string) => string, string][] = [
      ['unsigned', (idp, id) => idp.unsigned(good(id)), 'signature_invalid'],
      ['signed by another key', (idp, id) => idp.signedByOtherKey(good(id)), 'signature_invalid'],
      [
        'for another audience',
        (idp, id) => idp.response(good(id, { audience: 'https://other.example.test' })),
        'audience_mismatch',
      ],
      [
        'without an audience',
        (idp, id) => idp.response(good(id, { audience: null })),
        'audience_missing',
      ],
      [
        'expired',
        (idp, id) => idp.response(good(id, { now: new Date(Date.now() - 3_600_000) })),
        'subject_confirmation_expired',
      ],
      [
        'expired conditions, with a bearer confirmation still valid',
        (idp, id) =>
          idp.response(
            good(id, {
              beforeSigning: (xml) =>
                xml.replace(
                  /(<saml:Conditions [^>]*NotOnOrAfter=")[^"]+"/,
                  `$1${new Date(Date.now() - 3_600_000).toISOString()}"`,
                ),
            }),
          ),
        'assertion_expired',
      ],
      [
        'not yet valid',
        (idp, id) => idp.response(good(id, { now: new Date(Date.now() + 3_600_000) })),
        'assertion_not_yet_valid',
      ],
      [
        'to another Destination',
        (idp, id) => idp.response(good(id, { destination: 'https://evil.example/acs' })),
        'wrong_destination',
      ],
      [
        'without a Destination',
        (idp, id) => idp.response(good(id, { destination: null })),
        'wrong_destination',
      ],
      [
        'for another Recipient',
        (idp, id) => idp.response(good(id, { recipient: 'https://evil.example/acs' })),
        'wrong_recipient',
      ],
      [
        'from a foreign Issuer (signed with the trusted key)',
        (idp, id) => idp.response(good(id, { issuer: 'https://evil-idp.example' })),
        'wrong_issuer',
      ],
      [
        'holder-of-key instead of bearer',
        (idp, id) =>
          idp.response(
            good(id, { beforeSigning: (xml) => xml.replaceAll('cm:bearer', 'cm:holder-of-key') }),
          ),
        'not_bearer',
      ],
      [
        'unsolicited (no InResponseTo)',
        (idp) => idp.response(good('', { inResponseTo: undefined })),
        'in_response_to_missing',
      ],
      [
        'answering an unknown request',
        (idp) => idp.response(good('_not-a-request-of-ours')),
        'in_response_to_unknown',
      ],
      [
        'NameID altered after signing',
        (idp, id) => idp.nameIdAlteredAfterSigning(good(id), 'admin@example.test'),
        'signature_invalid',
      ],
      [
        'with a DOCTYPE (internal entity)',
        (idp, id) => idp.withDoctype(good(id), 'internal-entity'),
        'doctype',
      ],
      [
        'with a DOCTYPE (external entity)',
        (idp, id) => idp.withDoctype(good(id), 'external-entity'),
        'doctype',
      ],
      ['with an unused DOCTYPE', (idp, id) => idp.withDoctype(good(id), 'unused'), 'doctype'],
      [
        'signed with SHA-1',
        (idp, id) => idp.response(good(id, { digest: 'sha1' })),
        'sha1_signature',
      ],
      [
        'an error status',
        (idp, id) =>
          idp.response(
            good(id, {
              status: {
                code: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
                message: 'Account locked',
              },
            }),
          ),
        'idp_error_status',
      ],
      ['not base64', () => 'not base64 at all!', 'not_base64'],
      ['base64 of something else', () => Buffer.from('hello').toString('base64'), 'malformed_xml'],
      ...XSW_VARIANT_NUMBERS.map(
        (variant) =>
          [
            `signature wrapping XSW${variant}`,
            (idp: SamlIdp, id: string) => idp.wrapped(good(id), variant),
            XSW_REASONS[variant],
          ] as [string, (idp: SamlIdp, id: string) => string, string],
      ),
    ];
    test.each(cases)('%s', async (_case, build, reason) => {
      const id = await startSignIn(assistant);
      const res = await post(assistant, build(assistant.idp, id, assistant.acsUrl));
      expectRefusal(res, { status: 401, code: 'saml_response_invalid', bearerError: null });
      expect(JSON.stringify(res.headers['set-cookie'] ?? [])).not.toContain('__Host-eip-session=');
      const event = assistant.audit.events.at(-1);
      expect(event).toMatchObject({
        action: 'sign_in',
        outcome: 'denied',
        reason: 'saml_response_invalid',
        status: 401,
      });
      expect(event?.details['reason']).toBe(reason);
    });

    test('a replayed response: the second post is refused', async () => {
      const id = await startSignIn(assistant);
      const response = assistant.idp.response(good(id));
      expect((await post(assistant, response)).status).toBe(303);
      const replay = await post(assistant, response);
      expectRefusal(replay, { status: 401, code: 'saml_response_invalid', bearerError: null });
      // node-saml forgets a request id once it is answered: the replay is caught there, before
      // the used-assertion store.
      expect(assistant.audit.events.at(-1)?.details['reason']).toBe('in_response_to_unknown');
    });
  });

  test('no SAMLResponse: 400; an oversized one: 413', async () => {
    const missing = await assistant.agent
      .post('/auth/saml/acs')
      .type('form')
      .send({ RelayState: '/' });
    expectRefusal(missing, {
      status: 400,
      code: 'invalid_request',
      bearerError: 'invalid_request',
    });
    const huge = await post(assistant, 'A'.repeat(300 * 1024));
    expect({ status: huge.status, code: (huge.body as { code: string }).code }).toEqual({
      status: 413,
      code: 'request_too_large',
    });
    expect(assistant.audit.events.map((event) => event.reason)).toEqual([
      'invalid_request',
      'request_too_large',
    ]);
  });
});

describe('single logout', () => {
  test('sign-out sends the browser to the IdP with a LogoutRequest for the session', async () => {
    const sloUrl = 'https://idp.example.test/saml/slo';
    const [, express5] = EXPRESS_VERSIONS[0] ?? [];
    if (express5 === undefined) throw new Error('no Express');
    const assistant = await startAssistant(express5, sloUrl);
    const id = await startSignIn(assistant);
    const signedIn = await post(
      assistant,
      assistant.idp.response({
        nameId: 'alice@example.test',
        nameIdFormat: NAMEID_FORMAT.persistent,
        sessionIndex: '_idp-session-42',
        attributes: ENTRA_ATTRIBUTES,
        inResponseTo: id,
      }),
    );
    const cookie = sessionCookie(signedIn).split(';')[0] as string;
    const out = await assistant.agent
      .post('/auth/saml/logout')
      .set('Cookie', cookie)
      .set('Origin', assistant.origin);
    expect(out.status).toBe(303);
    const location = new URL(out.headers['location'] as string);
    expect(`${location.origin}${location.pathname}`).toBe(sloUrl);
    const logoutRequest = inflateRawSync(
      Buffer.from(location.searchParams.get('SAMLRequest') ?? '', 'base64'),
    ).toString('utf8');
    expect(logoutRequest).toContain('LogoutRequest');
    expect(logoutRequest).toContain('>alice@example.test</saml:NameID>');
    expect(logoutRequest).toContain(NAMEID_FORMAT.persistent);
    expect(logoutRequest).toContain('_idp-session-42');
    // The local session ended as well, and a second sign-out has no IdP session to end.
    const after = await assistant.agent.get('/ai/whoami').set('Cookie', cookie);
    expect(after.status).toBe(401);
    const again = await assistant.agent
      .post('/auth/saml/logout')
      .set('Cookie', cookie)
      .set('Origin', assistant.origin);
    expect(again.headers['location']).toBe('/');
  });
});

describe('plain-HTTP development: cookie { secure: false } for samlRoutes and authenticate()', () => {
  test('eip-session without Secure is set, and the AI routes accept it', async () => {
    const [, express5] = EXPRESS_VERSIONS[0] ?? [];
    if (express5 === undefined) throw new Error('no Express');
    const assistant = await startAssistant(express5, undefined, { secure: false });
    const login = await assistant.agent.get('/auth/saml/login?returnTo=%2Fchat');
    const pending = ((login.headers['set-cookie'] as string[] | undefined) ?? []).find((line) =>
      line.startsWith('eip-saml-pending='),
    );
    // Browsers refuse SameSite=None without Secure: plain HTTP gets Lax.
    expect(pending).toMatch(/; SameSite=Lax/);
    expect(pending).not.toMatch(/; Secure/i);
    assistant.pending = pending?.split(';')[0];
    const id = assistant.idp.samlRequestId(login.headers['location'] as string);
    const res = await post(
      assistant,
      assistant.idp.response({
        nameId: 'alice@example.test',
        attributes: ENTRA_ATTRIBUTES,
        inResponseTo: id,
      }),
    );
    expect(res.status).toBe(303);
    const cookie = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((line) =>
      line.startsWith('eip-session='),
    );
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).not.toMatch(/; Secure/i);
    const whoami = await assistant.agent
      .get('/ai/whoami')
      .set('Cookie', (cookie ?? '').split(';')[0] as string);
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({ provider: 'saml', username: 'alice@example.test' });
  });
});
