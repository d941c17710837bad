// `express-identity-passthrough explain`, run as a process the way an operator runs it, against a
// real JWKS issuer (examples/local-issuer.ts) and a real OpenID provider: each of the three
// failures every team meets (401 expired / wrong key, 403 role mapping, a service account) gets
// its diagnosis, beside tokens that pass. No output ever holds the token or its signature.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/child-server.js';
import { clientCredentialsTokenFor } from '../helpers/mcp-client.js';
import { startOidcProvider, type OidcIdp } from '../helpers/oidc-idp.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';
import {
  expectNoneOf,
  runCommand,
  secretPartsOf,
  type CommandResult,
} from './helpers/spawn-command.js';

// Each test spawns the executable (one to two seconds each on an idle machine); on a loaded
// machine Jest's default of 20 s is too close.
const spawnTest = (name: string, fn: () => Promise<void>) => test(name, fn, 60_000);
const ROLE_MAPPING = JSON.stringify({ role_mapping: { 'Sales-Team': 'sales_readonly' } });

let issuer: TestIssuer;
let otherIssuer: TestIssuer;
let dir: string;

beforeAll(async () => {
  [issuer, otherIssuer] = await Promise.all([createTestIssuer(), createTestIssuer()]);
  dir = await mkdtemp(join(tmpdir(), 'explain-'));
});

afterAll(async () => {
  await Promise.all([
    issuer.close(),
    otherIssuer.close(),
    rm(dir, { recursive: true, force: true }),
  ]);
});

/** The variables fromEnv() reads, for the local issuer. */
function envFor(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    JWT_ISSUER: issuer.issuer,
    JWT_AUDIENCE: TEST_AUDIENCE,
    OAUTH_JWKS_URL: issuer.jwksUri,
    IDENTITY_MAPPING: ROLE_MAPPING,
    ...overrides,
  };
}

/** Runs `explain -` with the token on standard input; no output may hold the token. */
async function explain(
  token: string,
  args: string[] = [],
  env: Record<string, string> = envFor(),
): Promise<CommandResult> {
  const result = await runCommand(['explain', '-', ...args], { env, input: `${token}\n` });
  expectNoneOf(result, secretPartsOf(token));
  return result;
}

/** The line of a check in the text output. */
function line(result: CommandResult, check: string): string {
  const found = result.stdout.split('\n').find((text) => text.slice(6).startsWith(`${check} `));
  if (found === undefined) throw new Error(`no "${check}" line in:\n${result.stdout}`);
  return found;
}

const nowSec = () => Math.floor(Date.now() / 1000);

describe('a token that passes (the positive control)', () => {
  spawnTest('every check passes, the identity is shown, exit code 0', async () => {
    const token = await issuer.sign({ groups: ['Sales-Team'] });
    const result = await explain(token, ['--require-role', 'sales_readonly']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/^FAIL/m);
    for (const check of ['token', 'issuer', 'key', 'algorithm', 'signature', 'audience', 'time']) {
      expect(line(result, check)).toMatch(/^PASS/);
    }
    expect(line(result, 'key')).toContain(
      `kid "${issuer.currentKid}" found in the JWKS at ${issuer.jwksUri}`,
    );
    expect(line(result, 'roles')).toMatch(/^PASS .*role_mapping: Sales-Team -> sales_readonly/);
    expect(result.stdout).toMatch(/username\s+alice \(claim preferred_username\)/);
    expect(result.stdout).toContain("requireUser({ roles: ['sales_readonly'] }) answers 200");
  });

  spawnTest(
    'the token may be an argument, with its "Bearer " prefix; it is not echoed either',
    async () => {
      const token = await issuer.sign();
      const result = await runCommand(['explain', `Bearer ${token}`], { env: envFor() });
      expectNoneOf(result, secretPartsOf(token));
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^token\s+sha256:[A-Za-z0-9_-]{22} /m);
    },
  );

  spawnTest('the JWKS is fetched once, by the authenticator and the report together', async () => {
    const before = issuer.jwksRequests;
    const token = await issuer.sign();
    const result = await explain(token);
    expect(result.code).toBe(0);
    expect(issuer.jwksRequests - before).toBe(1);
  });
});

describe('claims an attacker chose', () => {
  spawnTest(
    'terminal escapes, bidi overrides and invisible characters in claims are printed escaped',
    async () => {
      const hostile = 'mallory\u001b[2J\u202eevil\u200b\u009b31m';
      const token = await issuer.sign({ preferred_username: hostile, groups: [hostile] });
      const result = await explain(token, ['--require-role', 'sales_readonly']);
      const output = result.stdout + result.stderr;
      for (const raw of ['\u001b', '\u202e', '\u200b', '\u009b']) {
        expect(output).not.toContain(raw);
      }
      expect(output).toContain('mallory\\u001b[2J\\u202eevil');
      // Positive control: the same claims come out as JSON, escaped the same way.
      const json = await explain(token, ['--json']);
      expect(json.stdout).not.toContain('\u202e');
      expect(json.stdout).toContain('\\u202e');
    },
  );
});

describe('401: expired token, or the wrong key or JWKS URL', () => {
  spawnTest(
    'an expired token: the time check fails with the clock difference and the tolerance',
    async () => {
      const token = await issuer.sign({ iat: nowSec() - 7200, exp: nowSec() - 3600 });
      const result = await explain(token);
      expect(result.code).toBe(1);
      expect(line(result, 'time')).toMatch(/^FAIL .*expired 36\d\d s ago.*clock tolerance 30 s/);
      expect(result.stdout).toContain('401 token_expired');
      expect(result.stdout).toMatch(/fix\s+Get a fresh token.*IDENTITY_CLOCK_TOLERANCE_SEC/);
      // Earlier checks passed; the identity is still shown, marked as unverified.
      expect(line(result, 'signature')).toMatch(/^PASS/);
      expect(result.stdout).toContain('identity (from the unverified claims');
    },
  );

  spawnTest(
    'a JWKS URL of another issuer: the kid looked for, and the kids it offers',
    async () => {
      const token = await issuer.sign();
      const result = await explain(token, [], envFor({ OAUTH_JWKS_URL: otherIssuer.jwksUri }));
      expect(result.code).toBe(1);
      expect(line(result, 'key')).toContain(
        `FAIL  key             kid "${issuer.currentKid}" is not in the JWKS at ${otherIssuer.jwksUri} (it offers "${otherIssuer.currentKid}")`,
      );
      expect(result.stdout).toContain('401 token_key_unknown');
      expect(result.stdout).toMatch(
        /fix\s+The JWKS does not publish the token's key: OAUTH_JWKS_URL/,
      );
      expect(line(result, 'signature')).toMatch(/^SKIP\s+signature\s+not reached/);
    },
  );

  spawnTest(
    'a JWKS URL where nothing listens: 503, never a 401, and connection refused',
    async () => {
      const token = await issuer.sign();
      const url = `http://127.0.0.1:${await freePort()}/jwks.json`;
      const result = await explain(token, [], envFor({ OAUTH_JWKS_URL: url }));
      expect(result.code).toBe(1);
      expect(line(result, 'key')).toMatch(
        /^FAIL .*could not be read: connection refused \(ECONNREFUSED\)/,
      );
      expect(result.stdout).toContain('503 identity_provider_unavailable');
    },
  );

  spawnTest('a wrong audience: the expected one against the one carried', async () => {
    const token = await issuer.sign({ aud: 'api://reporting' });
    const result = await explain(token);
    expect(result.code).toBe(1);
    expect(line(result, 'audience')).toContain(
      'FAIL  audience        expected "api://ai-assistant"; the token carries "api://reporting"',
    );
    expect(result.stdout).toMatch(/fix\s+.*set JWT_AUDIENCE to this API's identifier/);
  });

  spawnTest('an issuer not trusted: the one carried and the trusted ones', async () => {
    const token = await otherIssuer.sign();
    const result = await explain(token);
    expect(result.code).toBe(1);
    expect(line(result, 'issuer')).toContain(
      `"${otherIssuer.issuer}" is not a trusted issuer (trusted: "${issuer.issuer}")`,
    );
    expect(result.stdout).toContain('401 token_issuer_unknown');
  });
});

describe('403: role mapping', () => {
  spawnTest(
    'a group that misses the role_mapping key by case: 403 role_missing, and why',
    async () => {
      const token = await issuer.sign({ groups: ['sales-team'] });
      const result = await explain(token, ['--require-role', 'sales_readonly']);
      expect(result.code).toBe(1);
      const roles = line(result, 'roles');
      expect(roles).toMatch(/^FAIL .*needs sales_readonly; the user has none/);
      expect(roles).toContain('no role_mapping key matched (keys: Sales-Team)');
      expect(roles).toContain('"sales-team" (role_mapping has "Sales-Team")');
      expect(result.stdout).toContain(
        "requireUser({ roles: ['sales_readonly'] }) answers 403 role_missing",
      );
      expect(result.stdout).toMatch(/fix\s+Map one of the user's groups .*IDENTITY_MAPPING/);
      // Authentication itself passed.
      expect(line(result, 'signature')).toMatch(/^PASS/);
    },
  );

  spawnTest('a token without any groups claim says which claim was read', async () => {
    const token = await issuer.sign();
    const result = await explain(token, ['--require-role', 'sales_readonly']);
    expect(result.code).toBe(1);
    expect(line(result, 'roles')).toContain('no groups in the token (read from claim groups)');
  });

  spawnTest('--json: the same verdict, machine-readable', async () => {
    const token = await issuer.sign({ groups: ['sales-team'] });
    const result = await explain(token, ['--require-role', 'sales_readonly', '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.passes).toBe(false);
    expect(report.route).toMatchObject({ status: 403, code: 'role_missing' });
    expect(
      report.checks.find((check: { status: string }) => check.status === 'fail'),
    ).toMatchObject({
      id: 'roles',
      refusal: { status: 403, code: 'role_missing' },
      details: { required_roles: ['sales_readonly'] },
    });
    expect(report.identity).toMatchObject({
      verified: true,
      username: 'alice',
      groups: ['sales-team'],
      roles: [],
    });
    expect(report.token.fingerprint).toMatch(/^sha256:/);
  });
});

describe('"the audit log shows a service account"', () => {
  let idp: OidcIdp;

  beforeAll(async () => {
    idp = await startOidcProvider();
  }, 30_000);

  afterAll(async () => {
    await idp.stop();
  });

  const idpEnv = () => ({
    JWT_ISSUER: idp.issuer,
    JWT_AUDIENCE: idp.apiAudience,
    OAUTH_JWKS_URL: idp.jwksUri,
  });

  spawnTest(
    'a client-credentials token: the rule that matched and the claims that made it match',
    async () => {
      const { access_token: token } = await clientCredentialsTokenFor(
        idp,
        idp.apiAudience,
        'assistant:chat',
      );
      const result = await explain(token, [], idpEnv());
      expect(result.code).toBe(1);
      const line_ = line(result, 'service-account');
      expect(line_).toMatch(
        /^FAIL .*a service account, not a person: rule "subject-is-client" matched/,
      );
      expect(line_).toContain(`sub equals client_id ("${idp.clientId}")`);
      expect(result.stdout).toContain('403 service_account_refused');
      expect(result.stdout).toMatch(/kind\s+service \(rule subject-is-client/);
      // The token itself is valid: authentication passed.
      expect(line(result, 'time')).toMatch(/^PASS/);
    },
  );

  spawnTest('the same token on a route that allows applications passes (control)', async () => {
    const { access_token: token } = await clientCredentialsTokenFor(
      idp,
      idp.apiAudience,
      'assistant:chat',
    );
    const result = await explain(token, ['--allow-service-accounts'], idpEnv());
    expect(result.code).toBe(0);
    expect(line(result, 'service-account')).toMatch(/^PASS .*allowed by --allow-service-accounts/);
  });
});

describe('settings from a module, and usage errors', () => {
  spawnTest('--config: the options of authenticate(), audit options and all', async () => {
    const path = join(dir, 'identity.config.mjs');
    await writeFile(
      path,
      `export default { issuer: ${JSON.stringify(issuer.issuer)}, audience: ${JSON.stringify(TEST_AUDIENCE)}, ` +
        `jwksUri: ${JSON.stringify(issuer.jwksUri)}, source: 'ai-assistant', audit: { log() {} }, ` +
        `mapping: { claim_mapping: { department: 'user_department' } } };\n`,
    );
    const token = await issuer.sign({ department: 'EMEA' });
    const result = await explain(token, ['--config', path], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`settings  --config ${path}`);
    expect(result.stdout).toMatch(/attributes\s+user_department="EMEA"/);
  });

  spawnTest('a bad option in the module: exit code 2, naming the option', async () => {
    const path = join(dir, 'bad.config.mjs');
    await writeFile(
      path,
      `export const options = { issuer: 'x', audience: 'y', jwksUri: 'ftp://nope' };\n`,
    );
    const token = await issuer.sign();
    const result = await explain(token, ['--config', path], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^explain: --config .*bad\.config\.mjs: createBearerAuthenticator: option "jwksUri"/,
    );
    expect(result.stdout).toBe('');
  });

  spawnTest('a missing variable: exit code 2, naming it as fromEnv() does', async () => {
    const token = await issuer.sign();
    const env = envFor();
    delete env['JWT_AUDIENCE'];
    const result = await explain(token, [], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('JWT_AUDIENCE is not set');
  });

  spawnTest('no token, or an unknown option: exit code 2', async () => {
    const empty = await runCommand(['explain'], { env: envFor(), input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('no token');
    const unknown = await runCommand(['explain', '-', '--require-rol', 'x'], {
      env: envFor(),
      input: 'a.b.c',
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--require-rol'");
  });

  spawnTest(
    'a token that is not a JWT: the token check fails, and nothing of it is echoed',
    async () => {
      const token = 'not-a-jwt-at-all-but-a-long-opaque-secret-value';
      const result = await explain(token);
      expect(result.code).toBe(1);
      expect(line(result, 'token')).toMatch(/^FAIL .*not a JWT/);
      expect(result.stdout).toContain('401 token_malformed');
      expect(result.stdout).not.toContain('opaque-secret');
    },
  );
});
