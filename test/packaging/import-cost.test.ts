import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Importing the root entry is paid by every cold start of a serverless function, so it loads
// only what a request needs (Express, jose). Option validation (zod), passport, JWKS fetching
// (jwks-rsa), the default audit sink (winston) and the sign-in and storage integrations load
// when the factory that needs them is first called. Each case is a fresh `node` process, which
// reports every npm package it loaded (test/support/loaded-packages.mjs).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

/** Packages that no request through the root entry needs at import time. */
const DEFERRED = [
  'zod',
  'winston',
  'winston-transport',
  'jwks-rsa',
  'passport',
  'ldapts',
  'openid-client',
  'pg',
  'redis',
];

const ISSUER = {
  issuer: 'https://login.example.test/',
  audience: 'api://assistant',
  jwksUri: 'https://login.example.test/jwks.json',
};

/** The npm packages a fresh process loads for `entry`, after calling `call` when given. */
async function loadedPackages(
  entry: string,
  call?: { name: string; options: Record<string, unknown> },
): Promise<string[]> {
  const args = ['--import', 'tsx', 'test/support/loaded-packages.mjs', entry];
  if (call !== undefined) args.push(call.name, JSON.stringify(call.options));
  const { stdout } = await run(process.execPath, args, { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout) as string[];
}

function deferredAmong(packages: readonly string[]): string[] {
  return packages.filter((name) => DEFERRED.includes(name) || name.startsWith('@node-saml/'));
}

test('importing the root entry loads Express and jose, and none of the deferred packages', async () => {
  const packages = await loadedPackages('lib/index.ts');
  expect(packages).toEqual(expect.arrayContaining(['express', 'jose']));
  expect(deferredAmong(packages)).toEqual([]);
}, 40_000);

test('the recorder sees packages loaded through import: the LDAP entry loads ldapts', async () => {
  expect(await loadedPackages('lib/ldap.ts')).toContain('ldapts');
}, 40_000);

test('authenticate() loads zod and jwks-rsa when it is called, not before', async () => {
  const packages = await loadedPackages('lib/index.ts', { name: 'authenticate', options: ISSUER });
  expect(packages).toEqual(expect.arrayContaining(['zod', 'jwks-rsa']));
  expect(packages).not.toContain('passport');
}, 40_000);

test('identityStrategy() loads passport when it is called', async () => {
  const packages = await loadedPackages('lib/index.ts', {
    name: 'identityStrategy',
    options: ISSUER,
  });
  expect(packages).toEqual(expect.arrayContaining(['passport', 'zod']));
}, 40_000);
