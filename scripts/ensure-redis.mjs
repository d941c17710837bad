// The Redis store tests start a real redis-server (test/helpers/redis-server.ts) on a port of
// their own, so the test command runs this first: nothing to do when redis-server is there,
// install it when we can (root with apt-get, as in CI containers), otherwise stop with the exact
// command to run. The packaged daemon must not be left running on 6379 for the machine's users.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

const onPath = (name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));

if (existsSync('/usr/bin/redis-server') || onPath('redis-server')) process.exit(0);

const packages = ['redis-server'];
if (process.getuid?.() !== 0 || !onPath('apt-get')) {
  console.error(
    'ensure-redis: the Redis store tests need redis-server, which is not installed. Install it with:\n' +
      `  sudo apt-get install -y ${packages.join(' ')}`,
  );
  process.exit(1);
}

const DEFAULT_PORT = 6379;
const listening = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
  });

const aptGet = (...args) => {
  console.log(`ensure-redis: apt-get ${args.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
};
// --no-upgrade: installing test servers must not upgrade the machine's other packages.
const install = () =>
  aptGet('install', '-y', '--no-install-recommends', '--no-upgrade', ...packages);

// Debian's postinst starts the daemon through invoke-rc.d (or deb-systemd-invoke), which asks
// /usr/sbin/policy-rc.d first: exit 101 means "action forbidden". One that exists already (Docker
// images ship one that forbids everything) is the machine's own and stays as it is; ours carries
// a marker, so that one left behind by an interrupted run is recognised and removed.
const POLICY = '/usr/sbin/policy-rc.d';
// Any of the project's install scripts (ensure-postgres.mjs writes the same prefix).
const MARKER_PREFIX = '# written by express-identity-passthrough scripts/';
const MARKER = `${MARKER_PREFIX}ensure-redis.mjs`;
const ours = () => existsSync(POLICY) && readFileSync(POLICY, 'utf8').includes(MARKER_PREFIX);
const wasListening = await listening(DEFAULT_PORT);
const writePolicy = !existsSync(POLICY) || ours();
let installed = false;
try {
  if (writePolicy) {
    writeFileSync(POLICY, `#!/bin/sh\n${MARKER}\nexit 101\n`);
    chmodSync(POLICY, 0o755); // invoke-rc.d ignores a policy-rc.d it cannot execute
  }
  // A fresh container has no package lists: install fails until apt-get update has run.
  installed = install() || (aptGet('update') && install());
} finally {
  // Not process.exit() inside the try: it would skip this.
  if (writePolicy) rmSync(POLICY, { force: true });
}

if (!wasListening && (await listening(DEFAULT_PORT))) {
  // The policy did not hold (the machine's own policy-rc.d allowed it, or an init system that
  // ignores policy-rc.d): stop what the install started.
  const systemd = existsSync('/run/systemd/system') && onPath('systemctl');
  const [command, ...args] = systemd
    ? ['systemctl', 'stop', 'redis-server']
    : ['service', 'redis-server', 'stop'];
  console.log(
    `ensure-redis: the install started redis-server on ${DEFAULT_PORT}; ${command} stops it`,
  );
  spawnSync(command, args, { stdio: 'inherit' });
  if (await listening(DEFAULT_PORT)) {
    console.error(
      `ensure-redis: redis-server still listens on 127.0.0.1:${DEFAULT_PORT}; stop it with:\n` +
        `  sudo ${[command, ...args].join(' ')}`,
    );
    process.exit(1);
  }
}

if (!installed) {
  console.error('ensure-redis: could not install redis-server with apt-get (see above)');
  process.exit(1);
}
