// A real redis-server per test suite: its own port on 127.0.0.1 and its own temp directory, so the
// Redis stores are tested against the genuine server (persistence, restarts, outages) rather than
// a mock. redisCommand() reads keys without a client library, to see what a store really wrote.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, terminate } from './child-server.js';

export interface RedisServerOptions {
  /**
   * An append-only file fsynced on every write: data survives stop()/start() and even kill().
   * Off, nothing is written to disk and every start() begins empty. Default: true.
   */
  persistence?: boolean;
}

export interface RedisServer {
  /** `redis://127.0.0.1:PORT`, for node-redis `createClient({ url })` and ioredis `new Redis(url)`. */
  url: string;
  port: number;
  /** The server's own temp directory: redis.conf, redis.log and the append-only files. */
  dir: string;
  /** SIGTERM, then waits for the exit. The directory (and, with persistence, the data) is kept. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and directory, and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL, then waits for the exit: an outage without a clean shutdown. */
  kill(): Promise<void>;
  /** Stops the server (if running) and removes its directory. */
  destroy(): Promise<void>;
}

/** A `-ERR ...` reply: rejected at the top level, a value inside an array (EXEC's replies). */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

export type RedisReply = string | number | null | RedisReplyError | RedisReply[];

const READY_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 5000;

const onPath = (name: string) =>
  (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));

function redisBinary(): string {
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  if (onPath('redis-server')) return 'redis-server';
  throw new Error('No redis-server: run `node scripts/ensure-redis.mjs`');
}

/** RESP2 reply at `offset`, or undefined while the buffer does not hold all of it yet. */
function parseReply(buf: Buffer, offset: number): { reply: RedisReply; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const line = buf.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (String.fromCharCode(buf[offset]!)) {
    case '+':
      return { reply: line, end: next };
    case '-':
      return { reply: new RedisReplyError(line), end: next };
    case ':':
      return { reply: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length === -1) return { reply: null, end: next };
      if (buf.length < next + length + 2) return undefined;
      return { reply: buf.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count === -1) return { reply: null, end: next };
      const items: RedisReply[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, end);
        if (!item) return undefined;
        items.push(item.reply);
        end = item.end;
      }
      return { reply: items, end };
    }
    default:
      throw new Error(`Unexpected RESP reply: ${JSON.stringify(buf.toString('utf8', offset))}`);
  }
}

function send(port: number, args: (string | number)[], timeoutMs: number): Promise<RedisReply> {
  const request =
    `*${args.length}\r\n` +
    args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${String(arg)}\r\n`).join('');
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new Error(`No reply to ${String(args[0])} on port ${port} within ${timeoutMs} ms`)),
    );
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        const parsed = parseReply(received, 0);
        if (!parsed) return;
        socket.destroy();
        if (parsed.reply instanceof RedisReplyError) reject(parsed.reply);
        else resolve(parsed.reply);
      } catch (error) {
        fail(error as Error);
      }
    });
    socket.once('error', fail);
    socket.once('end', () => fail(new Error(`Connection closed before a reply to ${args[0]}`)));
  });
}

/**
 * One command over a fresh connection, in raw RESP: no client library between the test and what
 * the server holds. Bulk strings come back as UTF-8 strings, nil as null, integers as numbers.
 * An error reply rejects with a {@link RedisReplyError} carrying the server's message.
 *
 * @example
 * await redisCommand(redis.port, 'SCAN', 0, 'MATCH', 'sess:*'); // ['0', ['sess:abc']]
 */
export function redisCommand(port: number, ...args: (string | number)[]): Promise<RedisReply> {
  return send(port, args, COMMAND_TIMEOUT_MS);
}

function config(port: number, dir: string, persistence: boolean): string {
  return `bind 127.0.0.1
port ${port}
dir ${dir}
protected-mode yes
daemonize no
logfile ""
# No RDB snapshots: the append-only file is the only persistence, so what a test sees after a
# restart is exactly what was acknowledged before it.
save ""
${persistence ? 'appendonly yes\nappendfsync always' : 'appendonly no'}
`;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A redis-server process, from spawn until it answers PING as itself, or an error with its log. */
async function launch(dir: string, port: number): Promise<ChildProcess> {
  const redisArgv = [redisBinary(), join(dir, 'redis.conf')];
  // setpriv: redis-server dies with us even on SIGKILL. A process.on('exit') hook does not do in
  // Jest, whose sandboxed process object never fires it; it is kept for plain scripts.
  const [command, ...argv] = existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', ...redisArgv]
    : redisArgv;
  // The log to a file rather than a pipe: nothing of the server's keeps the test process alive.
  const log = openSync(join(dir, 'redis.log'), 'a');
  const child = spawn(command!, argv, { stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  // A failed spawn (ENOENT) emits 'error' and no 'exit'; its exitCode (-2) is caught below.
  child.on('error', () => undefined);
  const lastResort = () => child.kill('SIGKILL');
  process.once('exit', lastResort);
  child.once('exit', () => process.removeListener('exit', lastResort));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exited()) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode})`);
      const pong = await send(port, ['PING'], 1000).catch((error: unknown) => error);
      if (pong === 'PONG') break;
      // -LOADING while it replays the append-only file; ECONNREFUSED before it listens.
      if (Date.now() > deadline) {
        throw new Error(`redis-server did not answer PING within ${READY_TIMEOUT_MS} ms`, {
          cause: pong,
        });
      }
      await delay(25);
    }
    // Whoever answered may be another server that took the port between our probe and the bind.
    const info = String(await send(port, ['INFO', 'server'], COMMAND_TIMEOUT_MS));
    if (!info.includes(`process_id:${child.pid}\r\n`)) {
      throw new Error(`Address already in use: another server answers on port ${port}`);
    }
    return child;
  } catch (error) {
    await terminate(child, 'SIGKILL', 'redis-server', EXIT_TIMEOUT_MS);
    const output = await readFile(join(dir, 'redis.log'), 'utf8');
    throw new Error(`${(error as Error).message}\n--- redis-server log ---\n${output}`, {
      cause: error,
    });
  }
}

/**
 * Starts a redis-server on a free port of 127.0.0.1 with its own temp directory, and resolves once
 * it answers PING. No password: only this machine can reach it (`bind`, `protected-mode`).
 *
 * @example
 * const redis = await startRedisServer();
 * const client = await createClient({ url: redis.url }).connect();
 * // ...
 * await redis.destroy();
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const persistence = options.persistence ?? true;
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  try {
    for (let tries = 1; !child; tries++) {
      port = await freePort();
      await writeFile(join(dir, 'redis.conf'), config(port, dir, persistence));
      try {
        child = await launch(dir, port);
      } catch (error) {
        // Another process may take the port between our probe and redis-server's bind.
        if (tries >= 5 || !String(error).includes('Address already in use')) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = async () => {
    if (child) await terminate(child, 'SIGTERM', 'redis-server', EXIT_TIMEOUT_MS);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) {
        throw new Error(`redis-server is already running on port ${port}`);
      }
      child = await launch(dir, port);
    },
    async kill() {
      if (child) await terminate(child, 'SIGKILL', 'redis-server', EXIT_TIMEOUT_MS);
    },
    async destroy() {
      try {
        await stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
