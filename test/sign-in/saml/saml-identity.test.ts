import type { Profile } from '@node-saml/node-saml';
import { compileProfileMapping } from '../../../lib/sign-in/saml/saml-identity.js';

const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const MS = 'http://schemas.microsoft.com/ws/2008/06/identity/claims';

function profile(attributes: Record<string, unknown>, nameID = 'S-1-5-21-42'): Profile {
  return {
    issuer: 'https://idp.example.test/saml',
    nameID,
    nameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    attributes,
  };
}

describe('SAML attribute presets', () => {
  test('AD FS: UPN, the Group claim, and roles; the NameID is the subject', () => {
    const identity = compileProfileMapping({
      preset: 'adfs',
      mapping: { role_mapping: { 'Domain Sales': 'sales_readonly' } },
      servicePatterns: [],
    }).toIdentity(
      profile({
        [`${WS}/upn`]: 'alice@corp.example',
        [`${WS}/emailaddress`]: 'alice@corp.example',
        'http://schemas.xmlsoap.org/claims/Group': ['Domain Sales', 'Domain Users'],
        [`${MS}/role`]: 'Approver',
      }),
    );
    expect(identity).toMatchObject({
      subject: 'S-1-5-21-42',
      issuer: 'https://idp.example.test/saml',
      provider: 'saml',
      username: 'alice@corp.example',
      groups: ['Domain Sales', 'Domain Users'],
      roles: ['Approver', 'sales_readonly'],
    });
  });

  test('Okta: plain names; a single-valued group with a space stays one group', () => {
    const identity = compileProfileMapping({
      preset: 'okta',
      mapping: undefined,
      servicePatterns: [],
    }).toIdentity(profile({ email: 'bob@example.test', groups: 'Sales Team', displayName: 'Bob' }));
    expect(identity).toMatchObject({
      username: 'bob@example.test',
      name: 'Bob',
      groups: ['Sales Team'],
    });
  });

  test('Entra ID: a groups overage link marks the groups incomplete', () => {
    const identity = compileProfileMapping({
      preset: 'entra',
      mapping: undefined,
      servicePatterns: [],
    }).toIdentity(
      profile({
        [`${WS}/name`]: 'carol@example.test',
        'http://schemas.microsoft.com/claims/groups.link':
          'https://graph.microsoft.com/v1.0/users/x/getMemberObjects',
      }),
    );
    expect(identity).toMatchObject({ groups: [], groupsComplete: false });
  });

  test('a configured pattern makes a shared account kind service', () => {
    const identity = compileProfileMapping({
      preset: 'generic',
      mapping: undefined,
      servicePatterns: ['svc-*'],
    }).toIdentity(profile({ username: 'svc-reports' }, 'svc-reports'));
    expect(identity).toMatchObject({ kind: 'service', serviceAccountRule: 'deny-list' });
  });

  test('claim_mapping (attribute -> gateway field) overrides a preset field', () => {
    const identity = compileProfileMapping({
      preset: 'entra',
      mapping: { claim_mapping: { mailAddress: 'user_email', dept: 'department' } },
      servicePatterns: [],
    }).toIdentity(profile({ mailAddress: 'dana@example.test', dept: 'Finance' }));
    expect(identity).toMatchObject({
      email: 'dana@example.test',
      attributes: { department: 'Finance' },
    });
  });
});
