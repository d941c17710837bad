// Each network step of a sign-in gives up at its own limit, the TLS handshake included: hostile
// TCP servers on 127.0.0.1 that accept and then stall, against a real slapd as the control.
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerReader, BerWriter } from 'ldapts';
import { refusal } from '../../helpers/refusal.js';
import { createLdapAuthenticator, type LdapAuthenticatorOptions } from '../../../lib/ldap.js';
import {
  connectionDeadlineMs,
  defaultClientFactory,
  tlsConnectWithin,
  type ConnectionSettings,
} from '../../../lib/sign-in/ldap/ldap-connection.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../../helpers/slapd.js';

const { alice } = SLAPD_USERS;
const ALICE = { username: alice.uid, password: alice.password };
const STARTTLS_OID = '1.3.6.1.4.1.1466.20037';
// Small limits, and a per-operation limit far above the connect limit: a refusal that arrives
// near CONNECT_MS came from the handshake's own timer, not from the overall deadline
// (CONNECT_MS + 15 × OPERATION_MS = 45.4 s for type `ldap`).
const CONNECT_MS = 400;
const OPERATION_MS = 3_000;
// Scheduling slack on a busy CI machine; still far below the deadline.
const SLACK_MS = 1_500;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let slapd: Slapd;
const servers: { server: Server; sockets: Set<Socket> }[] = [];
beforeAll(async () => {
  slapd = await startSlapd();
}, 60_000);
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      ({ server, sockets }) =>
        new Promise((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(resolve);
        }),
    ),
  );
});
afterAll(() => slapd.stop());

function directory(port: number, overrides: Partial<LdapAuthenticatorOptions> = {}) {
  return createLdapAuthenticator({
    type: 'ldap',
    host: '127.0.0.1',
    port,
    ca: slapd.ca,
    baseDn: SLAPD_BASE_DN,
    bindDn: SLAPD_READER.dn,
    bindPassword: SLAPD_READER.password,
    connectTimeoutMs: CONNECT_MS,
    timeoutMs: OPERATION_MS,
    ...overrides,
  });
}

/** A TCP server on 127.0.0.1; `onData` decides what (if anything) a connection is answered. */
async function hostileServer(onData: (socket: Socket, data: Buffer) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (data) => onData(socket, data)).on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ server, sockets });
  return (server.address() as { port: number }).port;
}

/** Answers the first message (the StartTLS request) with success, then never says a word. */
function answerStartTlsThenStall(): Promise<number> {
  const answered = new WeakSet<Socket>();
  return hostileServer((socket, data) => {
    if (answered.has(socket)) return; // the ClientHello: read, never answered
    answered.add(socket);
    const reader = new BerReader(data);
    reader.readSequence();
    const messageId = reader.readInt() ?? 1;
    const writer = new BerWriter();
    writer.startSequence();
    writer.writeInt(messageId);
    writer.startSequence(0x78); // [APPLICATION 24] ExtendedResponse
    writer.writeEnumeration(0);
    writer.writeString('');
    writer.writeString('');
    writer.writeString(STARTTLS_OID, 0x8a);
    writer.endSequence();
    writer.endSequence();
    socket.write(writer.buffer);
  });
}

/** Resolves with how long `promise` took to settle, or rejects when it takes over `boundMs`. */
async function timed<T>(promise: Promise<T>, boundMs: number): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`still waiting after ${boundMs} ms`));
    }, boundMs);
  });
  try {
    const value = await Promise.race([promise, bound]);
    return { ms: performance.now() - started, value };
  } finally {
    clearTimeout(timer);
  }
}

describe('a directory that stalls the TLS handshake is given up on at connectTimeoutMs', () => {
  test('StartTLS answered, then the handshake stalls: 503 at the handshake limit', async () => {
    const port = await answerStartTlsThenStall();
    const { ms, value: error } = await timed(
      refusal(directory(port, { tls: 'starttls' }).authenticate(ALICE)),
      CONNECT_MS + SLACK_MS,
    );
    expect({ code: error.code, status: error.status, step: error.details['step'] }).toEqual({
      code: 'identity_provider_unavailable',
      status: 503,
      step: 'starttls',
    });
    expect(error.details['directory_error']).toBe('ETIMEDOUT');
    expect(ms).toBeGreaterThanOrEqual(CONNECT_MS - 50);
  });

  test('ldaps://: TCP accepted, the handshake never answered: 503 at the connect limit', async () => {
    const port = await hostileServer(() => undefined);
    const { ms, value: error } = await timed(
      refusal(directory(port).authenticate(ALICE)),
      CONNECT_MS + SLACK_MS,
    );
    expect({ code: error.code, status: error.status }).toEqual({
      code: 'identity_provider_unavailable',
      status: 503,
    });
    expect(ms).toBeGreaterThanOrEqual(CONNECT_MS - 50);
  });

  test('the StartTLS request itself unanswered: 503 at the operation limit', async () => {
    const port = await hostileServer(() => undefined);
    const operationMs = 600;
    const { ms, value: error } = await timed(
      refusal(directory(port, { tls: 'starttls', timeoutMs: operationMs }).authenticate(ALICE)),
      operationMs + SLACK_MS,
    );
    expect({ code: error.code, step: error.details['step'] }).toEqual({
      code: 'identity_provider_unavailable',
      step: 'starttls',
    });
    expect(ms).toBeGreaterThanOrEqual(operationMs - 50);
  });

  test('control: the same limits against a real slapd, LDAPS and StartTLS, sign alice in', async () => {
    for (const overrides of [
      { port: Number(new URL(slapd.ldapsUrl).port) },
      { port: Number(new URL(slapd.url).port), tls: 'starttls' as const },
    ]) {
      const identity = await directory(overrides.port, overrides).authenticate(ALICE);
      expect(identity.username).toBe('alice');
    }
  });
});

describe('tlsConnectWithin', () => {
  test('a finished handshake stops the timer: the connection outlives the limit', async () => {
    const connect = tlsConnectWithin(200);
    const socket = connect(Number(new URL(slapd.ldapsUrl).port), '127.0.0.1', {
      ca: slapd.ca,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve).once('error', reject);
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(socket.destroyed).toBe(false);
    } finally {
      socket.destroy();
    }
  });

  // ldapts's startTLS() strips every listener from a socket whose handshake failed, the one that
  // stops this timer included; a timer that then held the process open would keep a CLI, a
  // serverless function or a test worker alive for connectTimeoutMs after the sign-in is over.
  test('a refused StartTLS handshake leaves nothing running: the process exits at once', async () => {
    const connectTimeoutMs = 30_000;
    const options = {
      type: 'ldap',
      host: '127.0.0.1',
      port: Number(new URL(slapd.url).port),
      tls: 'starttls',
      ca: slapd.wrongCa,
      baseDn: SLAPD_BASE_DN,
      bindDn: SLAPD_READER.dn,
      bindPassword: SLAPD_READER.password,
      connectTimeoutMs,
    };
    const { output, afterOutputMs, status, signal } = await runUntilExit(
      `
      import { createLdapAuthenticator } from ${JSON.stringify(join(ROOT, 'lib', 'ldap.ts'))};
      const directory = createLdapAuthenticator(${JSON.stringify(options)});
      const error = await directory.authenticate(${JSON.stringify(ALICE)}).catch((caught) => caught);
      console.log(JSON.stringify({ code: error.code, step: error.details?.step }));
      `,
      { outputMs: 15_000, exitMs: EXIT_BOUND_MS },
    );
    expect(JSON.parse(output)).toEqual({ code: 'identity_provider_unavailable', step: 'starttls' });
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(afterOutputMs).toBeLessThan(EXIT_BOUND_MS);
  }, 30_000);
});

// Far below the child's connectTimeoutMs, far above a process's own shutdown on a busy machine.
const EXIT_BOUND_MS = 3_000;

/**
 * Runs an ES module `script` (TypeScript imports allowed) in a fresh Node process that must
 * print one line within `outputMs` and then exit on its own within `exitMs`; killed otherwise.
 */
async function runUntilExit(
  script: string,
  bounds: { outputMs: number; exitMs: number },
): Promise<{
  output: string;
  afterOutputMs: number;
  status: number | null;
  signal: NodeJS.Signals | null;
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  let printedAt: number | undefined;
  let exitedAt = Number.NaN;
  let kill = setTimeout(() => child.kill('SIGKILL'), bounds.outputMs);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (printedAt === undefined && stdout.includes('\n')) {
      printedAt = performance.now();
      clearTimeout(kill);
      kill = setTimeout(() => child.kill('SIGKILL'), bounds.exitMs);
    }
  });
  child.once('exit', () => {
    exitedAt = performance.now();
  });
  try {
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (code, killedBy) => resolve([code, killedBy])),
    );
    return {
      output: stdout.split('\n')[0] ?? '',
      afterOutputMs: exitedAt - (printedAt ?? Number.NaN),
      status,
      signal,
    };
  } finally {
    clearTimeout(kill);
  }
}

describe('connectionDeadlineMs: the worst case, every step answered just in time', () => {
  const settings = (startTls: boolean): ConnectionSettings => ({
    url: 'ldaps://127.0.0.1:636',
    host: '127.0.0.1',
    startTls,
    tlsOptions: undefined,
    connectTimeoutMs: 5_000,
    timeoutMs: 5_000,
    createClient: defaultClientFactory,
  });
  test.each([
    ['type ldap (15 operations), LDAPS: 80 s', false, 15, 80_000],
    ['type ldap (15 operations), StartTLS: 90 s', true, 15, 90_000],
    ['Active Directory (5 operations), LDAPS: 30 s', false, 5, 30_000],
  ])('%s', (_name, startTls, operations, expected) => {
    expect(connectionDeadlineMs(settings(startTls), operations)).toBe(expected);
  });
});
