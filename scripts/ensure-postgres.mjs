// The PostgreSQL tests start a real server (test/helpers/postgres-server.ts) on a port of their
// own, so the test command runs this first: nothing to do when the server binaries are there,
// install them when we can (root with apt-get, as in CI containers), otherwise stop with the exact
// command to run. The packaged cluster must not be left running on 5432 for the machine's users.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

const onPath = (name) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));

const ROOT = '/usr/lib/postgresql';
const hasServer = (bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'));
/** Major versions under /usr/lib/postgresql with initdb and postgres, newest first. */
const installedVersions = () =>
  (existsSync(ROOT) ? readdirSync(ROOT) : [])
    .filter((name) => /^\d+$/.test(name) && hasServer(join(ROOT, name, 'bin')))
    .sort((a, b) => Number(b) - Number(a));

// The same search as postgresBinaries() in the helper: Debian keeps the server binaries off PATH,
// in /usr/lib/postgresql/VERSION/bin, so PATH alone would miss an installed server.
const pathHasServer = (process.env.PATH ?? '')
  .split(delimiter)
  .some((dir) => dir && hasServer(dir));
if (installedVersions().length > 0 || pathHasServer) process.exit(0);

const packages = ['postgresql'];
if (process.getuid?.() !== 0 || !onPath('apt-get')) {
  console.error(
    'ensure-postgres: the PostgreSQL tests need the PostgreSQL server, which is not installed. ' +
      'Install it with:\n' +
      `  sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`,
  );
  process.exit(1);
}

const DEFAULT_PORT = 5432;
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
  console.log(`ensure-postgres: apt-get ${args.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
};
// --no-upgrade: installing test servers must not upgrade the machine's other packages.
const install = () =>
  aptGet('install', '-y', '--no-install-recommends', '--no-upgrade', ...packages);

// The postgresql-VERSION postinst creates the cluster `main` (port 5432) and starts it through
// invoke-rc.d, which asks /usr/sbin/policy-rc.d first: exit 101 means "action forbidden". One
// that exists already (Docker images ship one that forbids everything) is the machine's own and
// stays as it is; ours carries a marker, so that one left behind by an interrupted run (of this
// script or of its siblings, ensure-redis.mjs and the like) is recognised and removed.
const POLICY = '/usr/sbin/policy-rc.d';
const MARKER_PREFIX = '# written by express-identity-passthrough scripts/';
const MARKER = `${MARKER_PREFIX}ensure-postgres.mjs`;
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
  // ignores policy-rc.d): stop what the install started. pg_ctlcluster stops the one cluster the
  // postinst created; the service stops every cluster, for an install that made another one.
  const [version] = installedVersions();
  const systemd = existsSync('/run/systemd/system') && onPath('systemctl');
  const commands = [
    ...(version && onPath('pg_ctlcluster') ? [['pg_ctlcluster', version, 'main', 'stop']] : []),
    systemd ? ['systemctl', 'stop', 'postgresql'] : ['service', 'postgresql', 'stop'],
  ];
  for (const [command, ...args] of commands) {
    console.log(
      `ensure-postgres: the install started PostgreSQL on ${DEFAULT_PORT}; ` +
        `${[command, ...args].join(' ')} stops it`,
    );
    spawnSync(command, args, { stdio: 'inherit' });
    if (!(await listening(DEFAULT_PORT))) break;
  }
  if (await listening(DEFAULT_PORT)) {
    console.error(
      `ensure-postgres: PostgreSQL still listens on 127.0.0.1:${DEFAULT_PORT}; stop it with:\n` +
        commands.map((command) => `  sudo ${command.join(' ')}`).join('\n'),
    );
    process.exit(1);
  }
}

if (!installed) {
  console.error('ensure-postgres: could not install PostgreSQL with apt-get (see above)');
  process.exit(1);
}
