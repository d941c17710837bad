import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Builds the package, packs it, installs the tarball into scratch ESM and TypeScript consumers
// (as a user would, from the npm registry cache), and uses it from there.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let scratch: string;
let tarball: string;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'eip-consumer-'));
  run(npm, ['run', 'build'], root);
  const packed = run(npm, ['pack', '--json', '--pack-destination', scratch], root);
  const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
  tarball = join(scratch, info.filename);
  writeFileSync(join(scratch, 'files.json'), JSON.stringify(info.files.map((file) => file.path)));
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  run(
    npm,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      'express@5',
      '@types/express@5',
      // The peer dependency of the MCP entry, as an MCP server author has it.
      '@modelcontextprotocol/sdk@1',
      '@types/node@20',
      // The oldest TypeScript the published declarations support (generic typed arrays).
      'typescript-oldest@npm:typescript@~5.7.0',
    ],
    scratch,
  );
}, 240_000);

afterAll(() => {
  if (process.env['KEEP_SCRATCH']) return;
  rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds the build and the README only', () => {
  const files = JSON.parse(run('cat', ['files.json'], scratch)) as string[];
  expect(files).toContain('dist/index.js');
  expect(files).toContain('dist/index.d.ts');
  expect(files).toContain('README.md');
  expect(files.filter((file) => /^(lib|test|examples)\/|\.map$|\.test\./.test(file))).toEqual([]);
  expect(readdirSync(scratch)).toContain('node_modules');
});

test('an ESM consumer imports it and authenticates a request end to end', () => {
  writeFileSync(
    join(scratch, 'consumer.mjs'),
    `
import express from 'express';
import { SignJWT } from 'jose';
import { authenticate, requireUser, identityErrorHandler, IdentityError, fromEnv } from 'express-identity-passthrough';
import pkg from 'express-identity-passthrough/package.json' with { type: 'json' };
import { createLdapAuthenticator } from 'express-identity-passthrough/ldap';
import { createSamlSignIn } from 'express-identity-passthrough/saml';
import { createOidcSignIn } from 'express-identity-passthrough/oidc';

const secret = 'a-local-secret-that-is-long-enough-for-hs256';
const options = fromEnv({ JWT_ISSUER: 'https://issuer.test/', JWT_AUDIENCE: 'api://x', JWT_SECRET: secret });
const app = express();
app.use(authenticate({ ...options, audit: { log() {} } }));
app.get('/ai', requireUser(), (req, res) => res.json({ user: req.identity.username }));
app.use(identityErrorHandler());
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = 'http://127.0.0.1:' + server.address().port + '/ai';
const token = await new SignJWT({ sub: 'u1', preferred_username: 'uma' })
  .setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer.test/').setAudience('api://x')
  .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
const ok = await (await fetch(url, { headers: { authorization: 'Bearer ' + token } })).json();
const refused = await fetch(url);
server.close();
console.log(JSON.stringify({ ok, refused: refused.status, challenge: refused.headers.get('www-authenticate'), isClass: typeof IdentityError, name: pkg.name, ldap: typeof createLdapAuthenticator, saml: typeof createSamlSignIn, oidc: typeof createOidcSignIn }));
`,
  );
  const output = JSON.parse(run(process.execPath, ['consumer.mjs'], scratch)) as unknown;
  expect(output).toEqual({
    ok: { user: 'uma' },
    refused: 401,
    challenge: 'Bearer',
    isClass: 'function',
    name: 'express-identity-passthrough',
    ldap: 'function',
    saml: 'function',
    oidc: 'function',
  });
});

test('a CommonJS consumer require()s every entry point (Node 20.19+ loads ES modules)', () => {
  writeFileSync(
    join(scratch, 'consumer.cjs'),
    `
const root = require('express-identity-passthrough');
const { createLdapAuthenticator } = require('express-identity-passthrough/ldap');
const { createSamlSignIn } = require('express-identity-passthrough/saml');
const { createOidcSignIn } = require('express-identity-passthrough/oidc');
const { protectMcp } = require('express-identity-passthrough/mcp');
const { createRedisStores } = require('express-identity-passthrough/redis');
const { createUserQuery } = require('express-identity-passthrough/postgres');
const { instrumentOpenTelemetry } = require('express-identity-passthrough/otel');
console.log(JSON.stringify([typeof root.authenticate, typeof root.IdentityError, typeof createLdapAuthenticator, typeof createSamlSignIn, typeof createOidcSignIn, typeof protectMcp, typeof createRedisStores, typeof createUserQuery, typeof instrumentOpenTelemetry]));
`,
  );
  expect(JSON.parse(run(process.execPath, ['consumer.cjs'], scratch))).toEqual([
    'function',
    'function',
    'function',
    'function',
    'function',
    'function',
    'function',
    'function',
    'function',
  ]);
});

test('the core entry loads neither Express nor passport; the root entry (the adapter) loads Express only', () => {
  writeFileSync(
    join(scratch, 'core-only.cjs'),
    `
const loaded = (name) => Object.keys(require.cache).some((file) => file.includes('/node_modules/' + name + '/'));
(async () => {
  const core = await import('express-identity-passthrough/core');
  const before = { express: loaded('express'), passport: loaded('passport'), api: [typeof core.createBearerAuthenticator, typeof core.createPassthrough, typeof core.checkRequirements] };
  await import('express-identity-passthrough');
  await import('express-identity-passthrough/saml');
  console.log(JSON.stringify({ before, after: { express: loaded('express'), passport: loaded('passport') } }));
})();
`,
  );
  expect(JSON.parse(run(process.execPath, ['core-only.cjs'], scratch))).toEqual({
    before: { express: false, passport: false, api: ['function', 'function', 'function'] },
    // passport is loaded by the first identityStrategy() call (test/packaging/import-cost.test.ts).
    after: { express: true, passport: false },
  });
});

test('a strict TypeScript consumer type-checks against the published declarations', () => {
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(
    join(scratch, 'consumer.ts'),
    `
import express from 'express';
import {
  authenticate, requireUser, identityErrorHandler, getCurrentIdentity,
  type AuthenticateOptions, type Identity, type IdentityErrorCode, type AuditEvent,
  createSessionTokens, generateSigningKey, sessionRoutes,
} from 'express-identity-passthrough';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from 'express-identity-passthrough/ldap';
import { samlRoutes, type SamlSignInOptions } from 'express-identity-passthrough/saml';
import { exchangeStrategy, type OidcSignInOptions } from 'express-identity-passthrough/oidc';
import { protectMcp, identityOfAuthInfo, type McpOptions } from 'express-identity-passthrough/mcp';

const options: AuthenticateOptions = {
  issuer: 'https://login.example.com/', audience: 'api://x', jwksUri: 'https://login.example.com/jwks',
  preset: 'entra', mapping: { role_mapping: { 'Sales-Team': 'sales_readonly' } },
  audit: { log(event: AuditEvent) { void event.user; } },
};
const app = express();
app.use(authenticate(options));
app.post('/ai', requireUser({ roles: { anyOf: ['sales_readonly'] }, scopes: ['orders.read'] }), (req, res) => {
  const who: Identity | undefined = req.identity;
  const same: string | undefined = getCurrentIdentity()?.username;
  res.json({ user: who?.username, same });
});
app.use(identityErrorHandler());
const code: IdentityErrorCode = 'token_expired';
void code;
const directory: LdapAuthenticatorOptions = {
  type: 'active-directory', host: 'dc1.example.com', baseDn: 'DC=example,DC=com', accountSuffix: '@example.com',
};
const sessions = createSessionTokens({ issuer: 'https://a.example.com', signingKeys: [generateSigningKey()] });
app.use('/auth', sessionRoutes({ tokens: sessions, passwordSignIn: createLdapAuthenticator(directory) }));
const samlOptions: SamlSignInOptions = {
  entityId: 'https://a.example.com/saml', acsUrl: 'https://a.example.com/auth/saml/acs', preset: 'entra',
  idp: { entityId: 'https://sts.windows.net/t/', ssoUrl: 'https://login.example.com/saml2', certificates: ['-----BEGIN CERTIFICATE-----'] },
};
const oidcOptions: OidcSignInOptions = {
  provider: 'entra', tenant_id: 't', client_id: 'c', client_secret: 's', redirect_uri: 'https://a.example.com/cb',
};
void samlOptions; void oidcOptions; void samlRoutes; void exchangeStrategy;
const mcpOptions: McpOptions = {
  resource: 'https://mcp.example.com/mcp', issuer: 'https://login.example.com/',
  jwksUri: 'https://login.example.com/jwks', tools: { query_orders: { scopes: ['orders:read'] } },
};
const mcp = protectMcp(mcpOptions);
app.all('/mcp', mcp.guard, (req, res) => { res.json({ sub: identityOfAuthInfo(undefined)?.subject }); });
`,
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  expect(() => run(process.execPath, [tsc, '-p', 'tsconfig.json'], scratch)).not.toThrow();
  // The oldest TypeScript the README names reads the same declarations.
  const oldest = join(scratch, 'node_modules', 'typescript-oldest', 'bin', 'tsc');
  expect(run(process.execPath, [oldest, '--version'], scratch)).toMatch(/^Version 5\.7\./);
  expect(() => run(process.execPath, [oldest, '-p', 'tsconfig.json'], scratch)).not.toThrow();
  // A type error in consumer code is still caught: the check is not vacuous.
  writeFileSync(
    join(scratch, 'consumer.ts'),
    `import { requireUser } from 'express-identity-passthrough';\nrequireUser({ roles: 42 });\n`,
  );
  expect(() => run(process.execPath, [tsc, '-p', 'tsconfig.json'], scratch)).toThrow();
});

test('the installed command runs from node_modules/.bin: its help lists verify, explain and doctor', () => {
  // The link npm makes for "bin", which `npx express-identity-passthrough` runs; called directly,
  // since npx inside a run that npx itself started (the suite on Node 22 and 24) reads that
  // run's package settings.
  const command = join(scratch, 'node_modules', '.bin', 'express-identity-passthrough');
  const help = run(command, ['--help'], scratch);
  for (const name of ['verify', 'explain', 'doctor']) expect(help).toContain(name);
  // Positive control of the exit code: an unknown command is a usage error (2).
  let status: number | null = 0;
  try {
    run(command, ['no-such-command'], scratch);
  } catch (error) {
    status = (error as { status: number | null }).status;
  }
  expect(status).toBe(2);
});
