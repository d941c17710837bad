// A sign-in method of the application's own builds its identity with the exported factory, and
// the rest of the package treats it like any other.
import express from 'express';
import {
  authenticate,
  buildIdentity,
  createMemoryAuditSink,
  createSessionTokens,
  generateSigningKey,
  IdentityError,
  identityErrorHandler,
  requireUser,
  sessionRoutes,
  type PasswordAuthenticator,
} from '../../lib/index.js';
import { closeServers, serve } from '../helpers/http.js';

afterAll(closeServers);

const base = {
  subject: 'u-42',
  issuer: 'https://assistant.example.com/users',
  provider: 'database',
  username: 'dana',
};

describe('buildIdentity', () => {
  test('a frozen identity with defaults, and its own copy of the attributes', () => {
    const attributes = { region: { code: 'EMEA' } };
    const identity = buildIdentity({ ...base, groups: ['Sales-Team'], attributes });
    attributes.region.code = 'APAC';
    expect(identity).toMatchObject({
      ...base,
      kind: 'user',
      groups: ['Sales-Team'],
      roles: [],
      scopes: [],
      groupsComplete: true,
      attributes: { region: { code: 'EMEA' } },
    });
    expect(Object.isFrozen(identity)).toBe(true);
    expect(Object.isFrozen(identity.attributes['region'])).toBe(true);
  });

  test.each([
    [{ ...base, subject: '' }, /option "subject"/],
    [{ ...base, issuer: undefined }, /option "issuer"/],
    [{ ...base, provider: 'My Provider' }, /option "provider" must be 1 to 32 lower-case/],
    [{ ...base, groups: 'Sales-Team' }, /option "groups"/],
    [{ ...base, kind: 'service' }, /option "serviceAccountRule" is required/],
    [{ ...base, attributes: { f: () => 1 } }, /option "attributes" must hold plain data/],
    [{ ...base, usrname: 'x' }, /unknown option "usrname" \(did you mean "username"\?\)/],
  ])('%j is a TypeError naming the field', (fields, message) => {
    expect(() => buildIdentity(fields as never)).toThrow(TypeError);
    expect(() => buildIdentity(fields as never)).toThrow(message);
  });

  test('through sessionRoutes as a custom PasswordAuthenticator, to a guarded AI route', async () => {
    const users = new Map([['dana', { password: 'correct horse', groups: ['AI-Users'] }]]);
    const database: PasswordAuthenticator = {
      provider: 'database',
      authenticate: ({ username, password }) => {
        const row = users.get(username);
        if (row?.password !== password) {
          return Promise.reject(
            new IdentityError('invalid_credentials', 'Wrong name or password.'),
          );
        }
        return Promise.resolve(buildIdentity({ ...base, username, groups: row.groups }));
      },
    };
    const audit = createMemoryAuditSink();
    const sessions = createSessionTokens({
      issuer: 'https://assistant.example.com',
      signingKeys: [generateSigningKey()],
    });
    const app = express();
    app.use(express.json());
    app.use('/auth', sessionRoutes({ tokens: sessions, passwordSignIn: database, audit }));
    app.get(
      '/ai',
      authenticate({ issuers: [sessions.trustedIssuer()], audit }),
      requireUser({ groups: ['AI-Users'] }),
      (req, res) => res.json({ user: req.identity?.username, provider: req.identity?.provider }),
    );
    app.use(identityErrorHandler());
    const agent = await serve(app);
    const wrong = await agent.post('/auth/session').send({ username: 'dana', password: 'x' });
    expect(wrong.status).toBe(401);
    const signIn = await agent
      .post('/auth/session')
      .send({ username: 'dana', password: 'correct horse' });
    expect(signIn.status).toBe(200);
    const token = (signIn.body as { access_token: string }).access_token;
    const ai = await agent.get('/ai').set('Authorization', `Bearer ${token}`);
    expect(ai.body).toEqual({ user: 'dana', provider: 'database' });
  });
});
