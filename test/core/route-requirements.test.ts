// The framework-free guard: the same validation and evaluator as requireUser().
import {
  checkRequirements,
  createRequirementsPolicy,
  type Identity,
  type RouteRequirements,
} from '../../lib/index.js';
import { createIdentity } from '../../lib/core/identity.js';

const alice: Identity = createIdentity({
  subject: 'alice',
  issuer: 'https://idp.example.com/',
  provider: 'jwt',
  kind: 'user',
  username: 'alice',
  groups: ['Sales-Team'],
  roles: ['sales_readonly'],
  scopes: ['orders.read'],
  attributes: {},
});

async function outcome(identity: unknown, requirements: unknown): Promise<string> {
  try {
    await checkRequirements(identity as Identity, requirements as RouteRequirements);
    return 'allowed';
  } catch (error) {
    return error instanceof TypeError ? 'TypeError' : ((error as { code?: string }).code ?? '?');
  }
}

describe('checkRequirements', () => {
  test.each([
    [{ roles: 'admin' }],
    [{ roles: 'sales_readonly' }],
    [{ groups: 'Sales-Team' }],
    [{ scopes: 'orders.read' }],
    [{ roles: [] }],
    [{ roles: { some: ['x'] } }],
    [{ rolez: ['admin'] }],
    [{ allow: true }],
    [null],
    ['roles'],
  ])('%j is a TypeError, never "allowed"', async (requirements) => {
    expect(await outcome(alice, requirements)).toBe('TypeError');
  });

  test('a malformed requirement names the option', async () => {
    await expect(checkRequirements(alice, { roles: 'admin' } as never)).rejects.toThrow(
      /checkRequirements: option "roles"/,
    );
    await expect(checkRequirements(alice, { rolez: [] } as never)).rejects.toThrow(
      /did you mean "roles"/,
    );
  });

  test.each([
    [{}, 'allowed'],
    [{ roles: ['sales_readonly'] }, 'allowed'],
    [{ roles: ['admin'] }, 'role_missing'],
    [{ roles: { allOf: ['sales_readonly', 'admin'] } }, 'role_missing'],
    [{ groups: ['Sales-Team'] }, 'allowed'],
    [{ groups: ['Finance'] }, 'group_missing'],
    [{ scopes: ['orders.write'] }, 'insufficient_scope'],
  ])('%j -> %s', async (requirements, expected) => {
    expect(await outcome(alice, requirements)).toBe(expected);
  });

  test('no identity, or something that is not one, is refused', async () => {
    expect(await outcome(undefined, {})).toBe('credentials_missing');
    expect(await outcome({ subject: 'x' }, {})).toBe('credentials_missing');
  });

  test('a service identity is refused unless the route says otherwise', async () => {
    const service = createIdentity({ ...alice, kind: 'service', serviceAccountRule: 'x' });
    expect(await outcome(service, {})).toBe('service_account_refused');
    expect(await outcome(service, { dangerouslyAllowServiceAccounts: true })).toBe('allowed');
  });

  test('the allow predicate fails closed: false, a non-boolean, or a throw refuses', async () => {
    expect(await outcome(alice, { allow: () => true })).toBe('allowed');
    expect(await outcome(alice, { allow: () => Promise.resolve(true) })).toBe('allowed');
    expect(await outcome(alice, { allow: () => false })).toBe('access_denied');
    expect(await outcome(alice, { allow: () => 'yes' })).toBe('access_denied');
    expect(
      await outcome(alice, {
        allow: () => {
          throw new Error('policy store down');
        },
      }),
    ).toBe('access_denied');
  });
});

describe('createRequirementsPolicy', () => {
  test('validates once, at creation, and decides synchronously without a predicate', () => {
    expect(() => createRequirementsPolicy({ roles: 'admin' } as never)).toThrow(
      /createRequirementsPolicy: option "roles"/,
    );
    const policy = createRequirementsPolicy({ roles: ['admin'] });
    expect(policy.hasPredicate).toBe(false);
    expect(policy.refusal(alice)?.code).toBe('role_missing');
    expect(createRequirementsPolicy({ roles: ['sales_readonly'] }).refusal(alice)).toBeUndefined();
  });
});

test('checkRequirements reads the requirements on every call: an edited object is judged anew', async () => {
  const requirements: { roles: string[]; allow?: () => boolean } = { roles: ['sales_readonly'] };
  expect(await outcome(alice, requirements)).toBe('allowed');
  requirements.roles = ['admin'];
  expect(await outcome(alice, requirements)).toBe('role_missing');
  requirements.roles = ['sales_readonly'];
  requirements.allow = () => false;
  expect(await outcome(alice, requirements)).toBe('access_denied');
});
