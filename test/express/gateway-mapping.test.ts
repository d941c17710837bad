// The mapping users copy from their data gateway, pasted as-is (it is the README's example), read
// with real vendor-shaped tokens signed by a real JWKS issuer and guarded through role_mapping.
import { readFileSync } from 'node:fs';
import express from 'express';
import {
  authenticate,
  createMemoryAuditSink,
  identityErrorHandler,
  requireUser,
  type ClaimPresetName,
  type MappingConfig,
} from '../../lib/index.js';
import type { Claims } from '../../lib/core/claims.js';
import { entraV2Delegated, keycloakUser, oktaUser } from '../fixtures/provider-claims.js';
import { expectRefusal, serve } from '../helpers/http.js';
import { TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';

const PASTED = `{"claim_mapping": {"email": "user_email", "groups": "roles", "department": "user_department"},
"role_mapping": {"Sales-Team": "sales_readonly", "Sales-Managers": "sales_admin", "Finance-Team": "finance_readonly"}}`;

const idp = useTestIssuer();

// Each provider's real user token, with the groups claim its admins add and a department.
const VENDORS: readonly (readonly [string, ClaimPresetName, Claims])[] = [
  ['Entra ID v2', 'entra', { ...entraV2Delegated, email: 'alice@contoso.com' }],
  ['Okta', 'okta', { ...oktaUser, email: 'alice@example.com' }],
  // Keycloak's realm roles are roles in their own right; these are not the ones under test.
  ['Keycloak', 'keycloak', { ...keycloakUser, realm_access: { roles: ['offline_access'] } }],
  ['generic OIDC', 'generic', { sub: 'u-1', preferred_username: 'alice', email: 'a@x.test' }],
];

function userOf(base: Claims, groups: string[], department: string): Claims {
  // The test issuer sets its own issuer, audience and times.
  const rest = Object.fromEntries(
    Object.entries(base).filter(([name]) => !['iss', 'aud', 'iat', 'nbf', 'exp'].includes(name)),
  );
  return { ...rest, groups, department };
}

async function backend(preset: ClaimPresetName) {
  const audit = createMemoryAuditSink();
  const app = express();
  app.use(
    authenticate({
      issuer: idp.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: idp.jwksUri,
      preset,
      mapping: JSON.parse(PASTED) as MappingConfig,
      audit,
    }),
  );
  app.get('/me', (req, res) => res.json(req.identity));
  app.get('/reports', requireUser({ roles: ['sales_readonly'] }), (_req, res) => res.json({}));
  app.get('/admin', requireUser({ roles: ['sales_admin'] }), (_req, res) => res.json({}));
  app.use(identityErrorHandler());
  return { agent: await serve(app), audit };
}

describe('the gateway mapping pasted as-is', () => {
  test('the README shows exactly this JSON', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = /## Claim and role mapping[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(JSON.parse(shown ?? 'null')).toEqual(JSON.parse(PASTED));
  });

  describe.each(VENDORS)('%s token', (_label, preset, base) => {
    test('alice (Sales-Team) gets sales_readonly, her email and her department', async () => {
      const { agent } = await backend(preset);
      const token = await idp.sign(userOf(base, ['Everyone', 'Sales-Team'], 'EMEA'));
      const me = await agent.get('/me').set('Authorization', `Bearer ${token}`);
      expect(me.status).toBe(200);
      const identity = me.body as {
        email?: string;
        groups: string[];
        roles: string[];
        attributes: Record<string, unknown>;
      };
      expect(identity.email).toBe(base['email']);
      expect(identity.groups).toEqual(expect.arrayContaining(['Sales-Team']));
      expect(identity.roles).toContain('sales_readonly');
      expect(identity.roles).not.toContain('sales_admin');
      // The provider's group name feeds role_mapping; it is not a role of its own.
      expect(identity.roles).not.toContain('Sales-Team');
      expect(identity.attributes).toMatchObject({ user_department: 'EMEA' });
      const reports = await agent.get('/reports').set('Authorization', `Bearer ${token}`);
      expect(reports.status).toBe(200);
      expectRefusal(await agent.get('/admin').set('Authorization', `Bearer ${token}`), {
        status: 403,
        code: 'role_missing',
      });
    });

    test('carol (Sales-Managers) gets sales_admin', async () => {
      const { agent, audit } = await backend(preset);
      const token = await idp.sign(userOf(base, ['Sales-Managers'], 'APAC'));
      const admin = await agent.get('/admin').set('Authorization', `Bearer ${token}`);
      expect(admin.status).toBe(200);
      expect(audit.events.at(-1)).toMatchObject({ outcome: 'allowed' });
      expect(audit.events.at(-1)?.roles).toContain('sales_admin');
    });

    test('a user in no mapped group gets no role and is refused', async () => {
      const { agent } = await backend(preset);
      const token = await idp.sign(userOf(base, ['Everyone'], 'EMEA'));
      expectRefusal(await agent.get('/reports').set('Authorization', `Bearer ${token}`), {
        status: 403,
        code: 'role_missing',
      });
    });
  });
});
