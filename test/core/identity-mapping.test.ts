import { createIdentityMapper, mappingSchema } from '../../lib/core/identity-mapping.js';
import { readClaim } from '../../lib/core/claims.js';

describe('claim paths', () => {
  test('nested paths, whole names with dots, and missing paths', () => {
    const claims = {
      realm_access: { roles: ['a'] },
      'https://example.com/roles': ['ns'],
      list: [{ x: 1 }],
    };
    expect(readClaim(claims, 'realm_access.roles')).toEqual(['a']);
    expect(readClaim(claims, 'https://example.com/roles')).toEqual(['ns']);
    expect(readClaim(claims, 'realm_access.nope')).toBeUndefined();
    expect(readClaim(claims, 'list.0.x')).toBeUndefined();
    expect(readClaim(claims, '__proto__.polluted')).toBeUndefined();
  });
});

describe('createIdentityMapper', () => {
  test('the gateway shape reads claim -> field: email, groups as the role input, other fields as attributes', () => {
    const mapper = createIdentityMapper({
      mapping: {
        claim_mapping: { email: 'user_email', groups: 'roles', department: 'user_department' },
        role_mapping: {
          'Sales-Team': 'sales_readonly',
          'Sales-Managers': ['sales_admin', 'sales_readonly'],
        },
      },
    });
    const mapped = mapper.map({
      sub: 's1',
      email: 'bob@example.com',
      groups: ['Sales-Managers', 'Other'],
      department: 'EMEA',
    });
    expect(mapped).toMatchObject({
      subject: 's1',
      email: 'bob@example.com',
      groups: ['Sales-Managers', 'Other'],
      attributes: { user_department: 'EMEA' },
      groupsOverage: false,
    });
    expect(mapper.rolesFor(mapped.groups, [])).toEqual(['sales_admin', 'sales_readonly']);
    expect(mapper.rolesFor(['sales-team'], [])).toEqual([]); // exact match: no case folding
  });

  test('the old reading (field -> claim) no longer fills a field from a claim of that name', () => {
    // A token carrying claims named like the gateway's fields: they are not the user's email.
    const mapped = createIdentityMapper({
      mapping: { claim_mapping: { email: 'user_email', groups: 'roles' } },
    }).map({ sub: 's1', user_email: 'other@example.com', roles: ['Sales-Team'] });
    expect(mapped.email).toBeUndefined();
    expect(mapped.groups).toEqual([]);
  });

  test.each([
    ['user_name', 'username', 'login', 'kim'],
    ['username', 'username', 'login', 'kim'],
    ['display_name', 'name', 'full', 'Kim Lee'],
    ['name', 'name', 'full', 'Kim Lee'],
    ['email', 'email', 'mail', 'kim@example.com'],
  ] as const)('gateway field %s fills %s', (field, ours, claim, value) => {
    const mapped = createIdentityMapper({ mapping: { claim_mapping: { [claim]: field } } }).map({
      sub: 's',
      [claim]: value,
      preferred_username: 'other',
      name: 'Other Name',
      email: 'other@example.com',
    });
    expect(mapped[ours]).toBe(value);
  });

  test('several claims mapped to one field: single values in mapping order, lists merged', () => {
    const mapper = createIdentityMapper({
      mapping: {
        claim_mapping: {
          mail: 'user_email',
          upn: 'user_email',
          groups: 'roles',
          'realm_access.roles': 'roles',
        },
      },
    });
    expect(
      mapper.map({ upn: 'u@corp', groups: ['a'], realm_access: { roles: ['b', 'a'] } }),
    ).toMatchObject({ email: 'u@corp', groups: ['a', 'b'] });
    expect(mapper.map({ mail: 'm@corp', upn: 'u@corp' }).email).toBe('m@corp');
  });

  test('field_claims says "our field <- these claim paths", for the subject too', () => {
    const mapped = createIdentityMapper({
      preset: 'entra',
      mapping: { field_claims: { subject: 'oid', email: ['mail', 'upn'], tenant: 'tid' } },
    }).map({ sub: 'pairwise', oid: 'object-id', upn: 'u@corp', tid: 't1' });
    expect(mapped).toMatchObject({
      subject: 'object-id',
      email: 'u@corp',
      attributes: { tenant: 't1' },
    });
  });

  test.each([
    [{ claim_mapping: { oid: 'subject' } }, /claim_mapping\.oid.*field_claims/],
    [{ claim_mapping: { subject: 'oid' } }, /claim_mapping\.subject.*reads like.*field_claims/],
    [
      { claim_mapping: { username: 'preferred_username' } },
      /claim_mapping\.username.*reads like "username <- preferred_username"/,
    ],
    [{ claim_mapping: { email: 'upn' } }, /field_claims": \{"email": "upn"\}/],
    [{ claim_mapping: { azp: 'clientId' } }, /claim_mapping\.azp.*field_claims/],
    [
      { claim_mapping: { mail: 'user_email' }, field_claims: { email: 'upn' } },
      /field_claims\.email.*also filled by claim_mapping/,
    ],
  ])('a mapping the gateway shape cannot express fails at startup: %j', (mapping, message) => {
    expect(() => createIdentityMapper({ mapping })).toThrow(message);
  });

  test.each([
    [{ claim_mapping: { email: ['mail', 'upn'] } }],
    [{ claim_mapping: { roles: 'realm_access.roles' } }],
    [{ claim_mapping: { email: '' } }],
    [{ field_claims: { 'not a name': 'x' } }],
    [{ claim_mapping: { oid: 'subject' } }],
  ])('the mapping schema refuses %j and says how to fix it', (mapping) => {
    const result = mappingSchema().safeParse(mapping);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toMatch(/field|claim/);
  });

  test('prototype names are plain attribute names, never a lookup into Object.prototype', () => {
    const mapped = createIdentityMapper({
      mapping: { claim_mapping: { dept: 'constructor', team: 'toString' } },
    }).map({ sub: 's', dept: 'EMEA', team: 'blue' });
    expect(mapped.attributes).toEqual({ constructor: 'EMEA', toString: 'blue' });
  });

  test('both scope dialects, merged without repeats', () => {
    const mapper = createIdentityMapper();
    expect(mapper.map({ scope: 'a b  c', scp: ['b', 'd', 7] }).scopes).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(mapper.map({ scp: 'x y' }).scopes).toEqual(['x', 'y']);
  });

  test.each([
    [
      'entra',
      {
        oid: 'o',
        sub: 's',
        preferred_username: 'u@corp.com',
        upn: 'u@corp.com',
        roles: ['App.Read'],
        groups: ['g-guid'],
        scp: 'Orders.Read',
        azp: 'client',
      },
      {
        username: 'u@corp.com',
        email: 'u@corp.com',
        roles: ['App.Read'],
        groups: ['g-guid'],
        scopes: ['Orders.Read'],
        clientId: 'client',
      },
    ],
    [
      'entra',
      {
        sub: 's',
        unique_name: 'DOMAIN\\u',
        upn: 'u@corp.com',
        scp: 'user_impersonation',
        appid: 'client-v1',
        ver: '1.0',
      },
      { username: 'u@corp.com', clientId: 'client-v1', scopes: ['user_impersonation'] },
    ],
    [
      'okta',
      {
        sub: 'jane@corp.com',
        uid: '00u1',
        cid: '0oa1',
        scp: ['openid', 'orders.read'],
        groups: ['Everyone'],
      },
      {
        username: 'jane@corp.com',
        clientId: '0oa1',
        scopes: ['openid', 'orders.read'],
        groups: ['Everyone'],
      },
    ],
    [
      'auth0',
      { sub: 'auth0|1', email: 'x@y.z', scope: 'openid', permissions: ['read:orders'], azp: 'c1' },
      { username: 'x@y.z', scopes: ['openid', 'read:orders'], clientId: 'c1' },
    ],
    [
      'keycloak',
      {
        sub: 'kc-1',
        preferred_username: 'kate',
        realm_access: { roles: ['analyst'] },
        groups: ['/sales'],
        scope: 'openid profile',
        azp: 'ui',
      },
      {
        username: 'kate',
        roles: ['analyst'],
        groups: ['/sales'],
        scopes: ['openid', 'profile'],
        clientId: 'ui',
      },
    ],
  ] as const)("preset %s reads that provider's claim shape", (preset, claims, expected) => {
    expect(createIdentityMapper({ preset }).map(claims)).toMatchObject(expected);
  });

  test('field_claims overrides one field of a preset and may list several paths', () => {
    const mapper = createIdentityMapper({
      preset: 'keycloak',
      mapping: {
        field_claims: { roles: ['realm_access.roles', 'resource_access.orders-api.roles'] },
      },
    });
    const mapped = mapper.map({
      realm_access: { roles: ['a'] },
      resource_access: { 'orders-api': { roles: ['b', 'a'] } },
      preferred_username: 'k',
    });
    expect(mapped.roles).toEqual(['a', 'b']);
    expect(mapped.username).toBe('k');
  });

  test('userClaim replaces the username paths with exactly that claim', () => {
    expect(
      createIdentityMapper({ userClaim: 'email' }).map({ preferred_username: 'p', email: 'e@x' })
        .username,
    ).toBe('e@x');
    expect(
      createIdentityMapper({ userClaim: 'email' }).map({ preferred_username: 'p' }).username,
    ).toBeUndefined();
  });

  test.each([
    [{ _claim_names: { groups: 'src1' } }, true],
    [{ hasgroups: true }, true],
    [{ _claim_names: { groups: 'src1' }, groups: ['g'] }, false],
    [{ _claim_names: { other: 'src1' } }, false],
  ])('groups overage in %j is %s', (claims, overage) => {
    expect(createIdentityMapper().map(claims).groupsOverage).toBe(overage);
  });
});
