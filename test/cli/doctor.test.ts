// `express-identity-passthrough doctor`, run as a process as a deployment pipeline runs it,
// against the real systems a configuration names: a JWKS issuer, slapd over LDAPS, an
// oidc-provider, Redis, a SAML IdP certificate and an audit file. All green first (exit 0),
// then each failure on its own (exit 1), and never a password in the output.
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/child-server.js';
import { startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startSlapd, type Slapd } from '../helpers/slapd.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';
import { expectNoneOf, runCommand, type CommandResult } from './helpers/spawn-command.js';
import { selfSignedCertificate } from './helpers/test-certificate.js';

// Each test spawns the executable (one to two seconds each on an idle machine); on a loaded
// machine Jest's default of 20 s is too close.
const spawnTest = (name: string, fn: () => Promise<void>) => test(name, fn, 60_000);
const DAY_MS = 86_400_000;

let issuer: TestIssuer;
let slapd: Slapd;
let idp: OidcIdp;
let redis: RedisServer;
let dir: string;
let configCount = 0;

beforeAll(async () => {
  [issuer, slapd, idp, redis] = await Promise.all([
    createTestIssuer(),
    startSlapd(),
    startOidcProvider(),
    startRedisServer({ persistence: false }),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'doctor-'));
}, 60_000);

afterAll(async () => {
  await Promise.all([
    issuer.close(),
    slapd.stop(),
    idp.stop(),
    redis.destroy(),
    rm(dir, { recursive: true, force: true }),
  ]);
});

const bearerEnv = () => ({
  JWT_ISSUER: issuer.issuer,
  JWT_AUDIENCE: TEST_AUDIENCE,
  OAUTH_JWKS_URL: issuer.jwksUri,
});

function certificate(validForDays: number): string {
  const now = Date.now();
  return selfSignedCertificate({
    commonName: 'idp.example.test',
    notBefore: new Date(now - 10 * DAY_MS),
    notAfter: new Date(now + validForDays * DAY_MS),
  });
}

/** Every entry, configured right; `overrides` replaces whole entries. */
function entries(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ldap: {
      type: 'ldap',
      host: '127.0.0.1',
      port: Number(new URL(slapd.ldapsUrl).port),
      tls: 'ldaps',
      ca: slapd.ca,
      baseDn: slapd.baseDn,
      bindDn: slapd.bindDn,
      bindPassword: slapd.bindPassword,
    },
    saml: {
      entityId: 'https://assistant.example.test/saml',
      acsUrl: 'https://assistant.example.test/saml/acs',
      idp: {
        entityId: 'https://idp.example.test/saml',
        ssoUrl: 'https://idp.example.test/saml/sso',
        certificates: [certificate(365)],
      },
    },
    oidc: {
      provider: 'generic',
      client_id: idp.clientId,
      client_secret: idp.clientSecret,
      issuer: idp.issuer,
      redirect_uri: 'http://127.0.0.1:3000/callback',
    },
    redis: { url: redis.url },
    audit: { filename: join(dir, 'audit.log') },
    ...overrides,
  };
}

/** Writes a configuration module (a default export) and runs the doctor with it. */
async function doctor(
  config: Record<string, unknown>,
  options: { env?: Record<string, string>; args?: string[] } = {},
): Promise<CommandResult> {
  configCount += 1;
  const path = join(dir, `identity-${configCount}.config.mjs`);
  await writeFile(path, `export default ${JSON.stringify(config, null, 2)};\n`);
  const result = await runCommand(['doctor', '--config', path, ...(options.args ?? [])], {
    env: options.env ?? bearerEnv(),
  });
  expectNoneOf(result, [slapd.bindPassword, slapd.adminPassword, idp.clientSecret]);
  return result;
}

/** The lines of one check in the text output. */
function lines(result: CommandResult, id: string): string[] {
  return result.stdout.split('\n').filter((text) => text.slice(6).startsWith(`${id} `));
}

function statusOf(result: CommandResult, id: string): string {
  const found = lines(result, id);
  if (found.length === 0) throw new Error(`no ${id} line in:\n${result.stdout}${result.stderr}`);
  return found.map((text) => text.slice(0, 4).trim()).join(',');
}

spawnTest('all green against live servers: every entry checked, exit code 0', async () => {
  const result = await doctor(entries(), { args: ['--ldap-user', 'alice'] });
  expect(result.stdout).not.toMatch(/^FAIL/m);
  expect(result.code).toBe(0);
  for (const id of ['bearer.jwks', 'bearer.keys', 'ldap.reachable', 'ldap.bind', 'ldap.user']) {
    expect(statusOf(result, id)).toBe('ok');
  }
  for (const id of [
    'saml.certificate',
    'oidc.discovery',
    'oidc.keys',
    'audit.file',
    'redis.ping',
  ]) {
    expect(statusOf(result, id)).toBe('ok');
  }
  // The fixture's directory certificate lives two days: a warning, not a failure.
  expect(statusOf(result, 'ldap.tls')).toMatch(/^(ok|warn)$/);
  expect(lines(result, 'ldap.user')[0]).toContain(
    '"alice" is uid=alice,ou=People,dc=example,dc=com: groups ai-users, data-readers, all-staff',
  );
  expect(lines(result, 'bearer.keys')[0]).toContain(
    `kid "${issuer.currentKid}" RSA 2048 bits (RS256)`,
  );
  expect(result.stdout).toMatch(/\d+ ok, \d+ warning\(s\), 0 failed/);
});

spawnTest('--json: one object per check, and the overall answer', async () => {
  const result = await doctor({ redis: { url: redis.url } }, { args: ['--json'], env: {} });
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toEqual({
    ok: true,
    checks: [{ id: 'redis.ping', status: 'ok', what: `${redis.url} answers PING` }],
  });
});

describe('each failure on its own', () => {
  spawnTest('the JWKS down (connection refused on a free port)', async () => {
    const env = {
      ...bearerEnv(),
      OAUTH_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks.json`,
    };
    const result = await doctor({}, { env });
    expect(result.code).toBe(1);
    expect(lines(result, 'bearer.jwks')[0]).toMatch(
      /^FAIL .*jwks\.json cannot be read: connection refused \(ECONNREFUSED\).*Fix: Check the URL/,
    );
  });

  spawnTest(
    "a JWKS URL that is not the issuer's own (its discovery document names another)",
    async () => {
      const env = {
        JWT_ISSUER: idp.issuer,
        JWT_AUDIENCE: idp.apiAudience,
        OAUTH_JWKS_URL: issuer.jwksUri,
      };
      const result = await doctor({}, { env });
      expect(result.code).toBe(1);
      expect(statusOf(result, 'bearer.jwks')).toBe('ok');
      expect(lines(result, 'bearer.discovery')[0]).toContain(
        `FAIL  bearer.discovery  the issuer publishes its keys at ${idp.jwksUri}, the settings name ${issuer.jwksUri}. Fix: Set OAUTH_JWKS_URL to ${idp.jwksUri}`,
      );
    },
  );

  spawnTest('weak and private keys in the JWKS', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'jwk',
    });
    const leaked = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'jwk',
    });
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          keys: [
            { ...weak, kid: 'weak' },
            { ...leaked, kid: 'leaked' },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      const result = await doctor({}, { env: { ...bearerEnv(), OAUTH_JWKS_URL: url } });
      expectNoneOf(result, [String(leaked.d)]);
      expect(result.code).toBe(1);
      const keys = lines(result, 'bearer.keys')[0];
      expect(keys).toMatch(/^FAIL/);
      expect(keys).toContain(
        'kid "weak" RSA 1024 bits: RSA keys need at least 2048 bits (got 1024)',
      );
      expect(keys).toContain('kid "leaked": publishes private key material (d)');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  spawnTest('the LDAP service account with a wrong password; no password printed', async () => {
    const wrong = 'Wrong-Password-42';
    const ldap = { ...(entries()['ldap'] as object), bindPassword: wrong };
    const result = await doctor({ ldap }, { args: ['--ldap-user', 'alice'], env: {} });
    expectNoneOf(result, [wrong]);
    expect(result.code).toBe(1);
    expect(statusOf(result, 'ldap.reachable')).toBe('ok');
    expect(lines(result, 'ldap.bind')[0]).toContain(
      `FAIL  ldap.bind       the directory refuses the service account "${slapd.bindDn}" (invalidCredentials)`,
    );
    expect(lines(result, 'ldap.user')).toEqual([]);
  });

  spawnTest("LDAPS with a CA that did not sign the directory's certificate", async () => {
    const ldap = { ...(entries()['ldap'] as object), ca: slapd.wrongCa };
    const result = await doctor({ ldap }, { env: {} });
    expect(result.code).toBe(1);
    expect(lines(result, 'ldap.tls')[0]).toMatch(
      /^FAIL .*TLS fails: TLS certificate rejected \(SELF_SIGNED_CERT_IN_CHAIN\)/,
    );
  });

  spawnTest('a directory user that does not exist', async () => {
    const result = await doctor(
      { ldap: entries()['ldap'] },
      { args: ['--ldap-user', 'nobody'], env: {} },
    );
    expect(result.code).toBe(1);
    expect(statusOf(result, 'ldap.bind')).toBe('ok');
    expect(lines(result, 'ldap.user')[0]).toMatch(
      /^FAIL .*"nobody" is not found under dc=example,dc=com/,
    );
  });

  spawnTest('an expired SAML certificate fails; one expiring within 30 days warns', async () => {
    const saml = entries()['saml'] as { idp: Record<string, unknown> };
    const expired = { ...saml, idp: { ...saml.idp, certificates: [certificate(-1)] } };
    const result = await doctor({ saml: expired }, { env: {} });
    expect(result.code).toBe(1);
    expect(lines(result, 'saml.certificate')[0]).toMatch(
      /^FAIL .*idp\.certificates\.0 \(CN=idp\.example\.test\) expired on \d{4}-/,
    );
    const soon = { ...saml, idp: { ...saml.idp, certificates: [certificate(10)] } };
    const warned = await doctor({ saml: soon }, { env: {} });
    expect(warned.code).toBe(0);
    expect(lines(warned, 'saml.certificate')[0]).toMatch(/^warn .*expires on .*, in (9|10) days/);
  });

  spawnTest('an audit path that cannot be opened for appending', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const result = await doctor({ audit: { filename: join(file, 'audit.log') } }, { env: {} });
    expect(result.code).toBe(1);
    expect(lines(result, 'audit.file')[0]).toMatch(
      /^FAIL .*a-file\/audit\.log cannot be opened for appending: ENOTDIR/,
    );
  });

  spawnTest('Redis down; the password in its URL is not printed', async () => {
    const password = 'redis-Secret-77';
    const url = `redis://:${password}@127.0.0.1:${await freePort()}`;
    const result = await doctor({ redis: { url } }, { env: {} });
    expectNoneOf(result, [password]);
    expect(result.code).toBe(1);
    expect(lines(result, 'redis.ping')[0]).toMatch(
      /^FAIL .*redis:\/\/127\.0\.0\.1:\d+ does not answer PING: connection refused/,
    );
  });

  spawnTest(
    'the OIDC sign-in pointed at an issuer that does not match its discovery document',
    async () => {
      const oidc = { ...(entries()['oidc'] as object), issuer: `${idp.issuer}/` };
      const result = await doctor({ oidc }, { env: {} });
      expect(result.code).toBe(1);
      expect(lines(result, 'oidc.discovery')[0]).toContain(
        `names the issuer "${idp.issuer}", the settings "${idp.issuer}/"`,
      );
    },
  );
});

describe('settings problems', () => {
  spawnTest('a bad variable fails the bearer check, naming it', async () => {
    const result = await doctor({}, { env: { ...bearerEnv(), JWT_AUDIENCE: '' } });
    expect(result.code).toBe(1);
    expect(lines(result, 'bearer.options')[0]).toContain('JWT_AUDIENCE is not set');
  });

  spawnTest('a bad option of an entry fails its check, naming it', async () => {
    const ldap = { ...(entries()['ldap'] as object), hots: '127.0.0.1' };
    const result = await doctor({ ldap }, { env: {} });
    expect(result.code).toBe(1);
    expect(lines(result, 'ldap.options')[0]).toContain(
      'unknown option "hots" (did you mean "host"?)',
    );
  });

  spawnTest('nothing configured, or an unknown entry: exit code 2', async () => {
    const nothing = await runCommand(['doctor'], { env: {} });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to check');
    const unknown = await doctor({ ldpa: {} }, { env: {} });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown entry ldpa');
  });
});
