import {
  createMemoryAuditSink,
  identityErrorHandler,
  requireUser,
  type MemoryAuditSink,
  type RequireUserOptions,
} from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { EXPRESS_VERSIONS, expectRefusal, serve } from '../helpers/http.js';
import { TEST_AUDIENCE, type Claims, useTestIssuer } from '../helpers/test-issuer.js';

const idp = useTestIssuer();

const mapping = {
  claim_mapping: { groups: 'roles', department: 'user_department' },
  role_mapping: {
    'Sales-Team': 'sales_readonly',
    'Sales-Managers': ['sales_admin', 'sales_readonly'],
  },
};

describe.each(EXPRESS_VERSIONS)('requireUser() on %s', (_name, express) => {
  let audit: MemoryAuditSink;

  async function chat(guard: RequireUserOptions, claims: Claims = {}) {
    audit = createMemoryAuditSink();
    const app = buildApp(
      express,
      { issuer: idp.issuer, audience: TEST_AUDIENCE, jwksUri: idp.jwksUri, mapping, audit },
      guard,
    );
    return (await serve(app))
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign(claims)}`);
  }

  describe('roles', () => {
    test('the gateway-style role mapping gives the role, and the request passes with an audit event', async () => {
      const res = await chat(
        { roles: ['sales_readonly'] },
        { groups: ['Sales-Team'], department: 'EMEA' },
      );
      expect(res.status).toBe(200);
      expect(audit.events.map((event) => [event.action, event.outcome])).toEqual([
        ['authorize', 'allowed'],
      ]);
      // The provider's group name is the input of role_mapping, never a role itself.
      expect(audit.events[0]).toMatchObject({
        roles: ['sales_readonly'],
        user: 'alice',
      });
    });

    test('a missing role is a 403 whose message says how to fix it', async () => {
      const res = await chat({ roles: ['sales_admin'] }, { groups: ['Sales-Team'] });
      expectRefusal(res, { status: 403, code: 'role_missing' });
      expect((res.body as { message: string }).message).toMatch(/sales_admin.*role_mapping/);
      expect(audit.events.at(-1)).toMatchObject({
        action: 'authorize',
        outcome: 'denied',
        reason: 'role_missing',
        details: { required_roles: ['sales_admin'] },
      });
    });

    test('anyOf passes with one role; allOf needs every role', async () => {
      expect(
        (
          await chat(
            { roles: { anyOf: ['sales_admin', 'sales_readonly'] } },
            { groups: ['Sales-Team'] },
          )
        ).status,
      ).toBe(200);
      expect(
        (
          await chat(
            { roles: { allOf: ['sales_admin', 'sales_readonly'] } },
            { groups: ['Sales-Managers'] },
          )
        ).status,
      ).toBe(200);
      expectRefusal(
        await chat(
          { roles: { allOf: ['sales_admin', 'sales_readonly'] } },
          { groups: ['Sales-Team'] },
        ),
        {
          status: 403,
          code: 'role_missing',
        },
      );
    });
  });

  describe('groups', () => {
    test('group membership is checked on the mapped groups', async () => {
      expect((await chat({ groups: ['Sales-Team'] }, { groups: ['Sales-Team'] })).status).toBe(200);
      expectRefusal(await chat({ groups: ['Finance'] }, { groups: ['Sales-Team'] }), {
        status: 403,
        code: 'group_missing',
      });
      expectRefusal(
        await chat({ groups: { allOf: ['Sales-Team', 'Finance'] } }, { groups: ['Sales-Team'] }),
        {
          status: 403,
          code: 'group_missing',
        },
      );
    });

    test('an Entra groups overage is never read as "no groups"', async () => {
      const overage = {
        groups: undefined,
        _claim_names: { groups: 'src1' },
        _claim_sources: {
          src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' },
        },
      };
      const res = await chat({ roles: ['sales_readonly'] }, overage);
      expectRefusal(res, { status: 403, code: 'groups_unresolved' });
      expect((res.body as { message: string }).message).toContain('resolveGroups');
      // A route that needs no group passes.
      expect((await chat({}, overage)).status).toBe(200);
    });
  });

  describe('scopes', () => {
    test('a missing scope is 403 insufficient_scope with the scope in the challenge', async () => {
      const res = await chat(
        { scopes: ['orders.read', 'orders.write'] },
        { scope: 'openid orders.read' },
      );
      expectRefusal(res, {
        status: 403,
        code: 'insufficient_scope',
        bearerError: 'insufficient_scope',
        scope: 'orders.read orders.write',
      });
      expect(audit.events.at(-1)?.details).toEqual({ missing_scopes: ['orders.write'] });
    });

    test('both scope dialects are read: scope string and scp array', async () => {
      expect(
        (await chat({ scopes: ['orders.read'] }, { scope: undefined, scp: ['orders.read'] }))
          .status,
      ).toBe(200);
      expect(
        (await chat({ scopes: ['orders.read'] }, { scope: undefined, scp: 'orders.read other' }))
          .status,
      ).toBe(200);
    });
  });

  describe('allow (custom predicate)', () => {
    test('true allows, false refuses, a throw refuses (fail closed)', async () => {
      const byDepartment: RequireUserOptions = {
        allow: (identity) => identity.attributes['user_department'] === 'EMEA',
      };
      expect((await chat(byDepartment, { department: 'EMEA' })).status).toBe(200);
      expectRefusal(await chat(byDepartment, { department: 'APAC' }), {
        status: 403,
        code: 'access_denied',
      });
      const broken = await chat({ allow: () => Promise.reject(new Error('policy store down')) });
      expectRefusal(broken, { status: 403, code: 'access_denied' });
      expect(audit.events.at(-1)?.details).toMatchObject({
        rule: 'allow',
        cause: 'Error: policy store down',
      });
    });
  });

  test('requireUser without authenticate() is a 500 that names the mistake, never a pass', async () => {
    const app = express();
    app.post('/ai/chat', requireUser(), (_req, res) => res.json({ leaked: true }));
    app.use(identityErrorHandler());
    const res = await (await serve(app)).post('/ai/chat');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'authentication_not_configured' });
    expect(res.body).not.toHaveProperty('leaked');
  });
});

describe('requireUser() options', () => {
  test('are validated at startup with the option name and a suggestion', () => {
    expect(() => requireUser({ role: ['x'] } as never)).toThrow(
      'requireUser: unknown option "role" (did you mean "roles"?)',
    );
    expect(() => requireUser({ roles: [] })).toThrow(/requireUser: option "roles"/);
    expect(() => requireUser({ roles: { some: ['x'] } } as never)).toThrow(/roles/);
    expect(() => requireUser({ dangerouslyAllowServiceAccounts: 'yes' } as never)).toThrow(
      /option "dangerouslyAllowServiceAccounts"/,
    );
  });

  test('used as a middleware without calling it, it fails loudly', () => {
    const fakeRequest = { headers: {}, method: 'GET', socket: {} };
    expect(() => requireUser(fakeRequest as never)).toThrow(
      'requireUser is a factory, not a middleware: use app.use(requireUser({ ... })), not app.use(requireUser)',
    );
  });
});
