// The LDAP tests start a real OpenLDAP slapd (test/helpers/slapd.ts) instead of mocking one, so
// the test command runs this first: nothing to do when slapd is there, install it when we can
// (root with apt-get, as in CI containers), otherwise stop with the exact command to run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const onPath = (name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));

// /usr/sbin is often missing from a non-root PATH, hence the explicit check.
if (existsSync('/usr/sbin/slapd') || onPath('slapd')) process.exit(0);

const packages = ['slapd', 'ldap-utils', 'openssl'];
if (process.getuid?.() === 0 && onPath('apt-get')) {
  const aptGet = (...args) => {
    console.log(`ensure-slapd: apt-get ${args.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    return spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
  };
  // --no-upgrade: installing test servers must not upgrade the machine's other packages.
  const install = () =>
    aptGet('install', '-y', '--no-install-recommends', '--no-upgrade', ...packages);
  // A fresh container has no package lists: install fails until apt-get update has run.
  if (install() || (aptGet('update') && install())) process.exit(0);
  console.error('ensure-slapd: could not install slapd with apt-get (see above)');
  process.exit(1);
}

console.error(
  'ensure-slapd: the LDAP tests need OpenLDAP slapd, which is not installed. Install it with:\n' +
    `  sudo apt-get install -y ${packages.join(' ')}`,
);
process.exit(1);
