/**
 * The few Redis commands the stores send, over whichever client the application already has.
 * Written against raw commands rather than one client's API: node-redis (a client, a cluster,
 * a sentinel) and ioredis (a client, a cluster) all send a raw command, and the stores then
 * work the same on each, and on Valkey.
 */
export interface RedisCommands {
  /** Sends one command; `key` routes it on a cluster. Rejects after the command timeout. */
  send(key: string, args: readonly (string | number)[]): Promise<unknown>;
}

/**
 * node-redis v4/v5: `sendCommand(args)`; a cluster: `sendCommand(firstKey, isReadonly, args)`;
 * a sentinel: `sendCommand(isReadonly, args)`.
 */
interface NodeRedisLike {
  sendCommand(...args: unknown[]): Promise<unknown>;
}

/** ioredis (a client or a cluster): `call(command, ...args)`. */
interface IoRedisLike {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
}

/** A Redis client of the application: node-redis (client, cluster, sentinel) or ioredis. */
export type RedisClientLike = NodeRedisLike | IoRedisLike;

/** Whether a value can send raw commands as one of the supported clients does. */
export function isRedisClient(value: unknown): value is RedisClientLike {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<NodeRedisLike & IoRedisLike>;
  return typeof candidate.call === 'function' || typeof candidate.sendCommand === 'function';
}

/**
 * The client's raw-command function, with a deadline: when Redis cannot answer, a client with
 * an offline queue would hold the command until it reconnects, and the request with it. A
 * timed-out command rejects, and the store's caller answers 503.
 */
export function redisCommands(client: RedisClientLike, timeoutMs: number): RedisCommands {
  const raw = rawSender(client);
  return {
    send(key, args) {
      const strings = args.map(String);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`Redis did not answer ${strings[0] ?? ''} within ${timeoutMs} ms`));
        }, timeoutMs);
        timer.unref();
      });
      const sent = raw(key, strings);
      // A command that answers after its deadline must not be an unhandled rejection.
      sent.catch(() => undefined);
      return Promise.race([sent, deadline]).finally(() => {
        clearTimeout(timer);
      });
    },
  };
}

function rawSender(client: RedisClientLike): (key: string, args: string[]) => Promise<unknown> {
  if (typeof (client as IoRedisLike).call === 'function') {
    const io = client as IoRedisLike;
    return (_key, [command = '', ...rest]) => io.call(command, ...rest);
  }
  const node = client as NodeRedisLike;
  const has = (name: string) => typeof Reflect.get(client, name) === 'function';
  // node-redis routes a cluster's command by its first key, and a sentinel's by whether it only
  // reads; a plain client takes the arguments alone.
  if (has('getMasters')) return (key, args) => node.sendCommand(key, false, args);
  if (has('getSentinelNode')) return (_key, args) => node.sendCommand(false, args);
  return (_key, args) => node.sendCommand(args);
}
