// What the fixtures that run a server as a child process (redis-server, postgres) share: a free
// port on 127.0.0.1, and a bounded stop that escalates to SIGKILL.
import type { ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/** A port free on 127.0.0.1 now (the caller retries if another process takes it first). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Sends `signal` and waits for the exit; a server that ignores it for `timeoutMs` is killed, and
 * that is an error (`label` names it).
 */
export async function terminate(
  child: ChildProcess,
  signal: NodeJS.Signals,
  label: string,
  timeoutMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); // unref'd, its exit would not keep a plain script alive long enough to see it
  const exit = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  const outcome = await Promise.race([exit, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    child.kill('SIGKILL');
    await exit;
    throw new Error(`${label} ignored ${signal} for ${timeoutMs} ms; killed`);
  }
}
