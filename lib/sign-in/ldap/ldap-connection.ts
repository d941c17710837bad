import { isIP } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { Client, type ClientOptions } from 'ldapts';
import {
  directoryChannel,
  traceDirectoryCall,
  type DirectoryOperation,
} from '../../core/diagnostics.js';
import { directoryErrorCode, directoryUnavailable } from './directory-errors.js';
import type { LdapClient } from './ldap-options.js';

/** How to reach the directory, compiled once from the options. */
export interface ConnectionSettings {
  readonly url: string;
  readonly host: string;
  readonly startTls: boolean;
  readonly tlsOptions: ConnectionOptions | undefined;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly createClient: (options: ClientOptions) => LdapClient;
}

/** The ldapts client, as the default factory. */
export const defaultClientFactory = (options: ClientOptions): LdapClient => new Client(options);

/**
 * Runs `work` on a fresh connection that is closed on every path. A fresh connection per sign-in
 * keeps one user's bind from ever serving another's request.
 *
 * Every network step has its own limit: the TCP connect and, for `ldaps://`, the TLS handshake
 * with it, `connectTimeoutMs`; the StartTLS request `timeoutMs` and its TLS handshake
 * `connectTimeoutMs` again; each bind or search `timeoutMs`. A directory that stalls any one step
 * is given up on after that step's limit. The whole exchange also has a deadline, the sum of
 * those limits over `operations` binds and searches, for a directory that answers every step
 * slowly but just in time; see {@link connectionDeadlineMs}.
 */
export async function withConnection<T>(
  settings: ConnectionSettings,
  operations: number,
  work: (client: LdapClient) => Promise<T>,
): Promise<T> {
  const created = settings.createClient({
    url: settings.url,
    connectTimeout: settings.connectTimeoutMs,
    timeout: settings.timeoutMs,
    // ldapts bounds the TCP connect (for ldaps://, until the handshake is done) and each message,
    // but not the handshake of startTLS(), which it starts on the open socket with no timer.
    createSecureConnection: tlsConnectWithin(settings.connectTimeoutMs),
    ...(settings.startTls || settings.tlsOptions === undefined
      ? {}
      : { tlsOptions: settings.tlsOptions }),
  });
  // Traced only while someone listens: no wrapper per sign-in otherwise.
  const client = directoryChannel.hasSubscribers ? tracedClient(created, settings.url) : created;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => {
        reject(directoryUnavailable('deadline', new Error('timed out')));
      },
      connectionDeadlineMs(settings, operations),
    );
  });
  try {
    const run = async (): Promise<T> => {
      if (settings.startTls) {
        try {
          // A copy: ldapts writes the socket into the options it is given.
          await client.startTLS({ ...settings.tlsOptions });
        } catch (cause) {
          // Nothing has been sent yet; no password is sent on a connection that is not upgraded.
          throw directoryUnavailable('starttls', cause);
        }
      }
      return work(client);
    };
    const running = run();
    // After the deadline the abandoned work fails as the connection closes; that is expected.
    running.catch(() => undefined);
    return await Promise.race([running, deadline]);
  } finally {
    clearTimeout(timer);
    // unbind() closes the socket; a dead connection makes it throw, which changes nothing.
    await client.unbind().catch(() => undefined);
  }
}

/**
 * The client with each StartTLS, bind and search published on the directory channel, with its
 * duration and outcome: never the DN, the password or the filter, which hold what people typed.
 */
function tracedClient(client: LdapClient, url: string): LdapClient {
  const trace = <T>(operation: DirectoryOperation, run: () => Promise<T>): Promise<T> =>
    traceDirectoryCall(url, operation, run, directoryErrorCode);
  return {
    startTLS: (options) => trace('starttls', () => client.startTLS(options)),
    bind: (dn, password, controls) => trace('bind', () => client.bind(dn, password, controls)),
    search: (base, options) => trace('search', () => client.search(base, options)),
    unbind: () => client.unbind(),
  };
}

/**
 * The longest a sign-in can wait for the directory: the connect (TLS included), the StartTLS
 * request and handshake when used, and `operations` binds and searches, each at its limit. With
 * the defaults (5 s each) that is 80 s for type `ldap` (15 operations with `maxGroupDepth` 10)
 * and 30 s for Active Directory, plus 10 s with StartTLS; reached only by a directory that
 * answers every single step just before its limit. One stalled step ends the sign-in at that
 * step's own limit.
 */
export function connectionDeadlineMs(settings: ConnectionSettings, operations: number): number {
  const startTls = settings.startTls ? settings.timeoutMs + settings.connectTimeoutMs : 0;
  return settings.connectTimeoutMs + startTls + operations * settings.timeoutMs;
}

/**
 * `tls.connect` whose handshake fails with ETIMEDOUT when it has not finished within
 * `timeoutMs`: for ldapts's `createSecureConnection`, used for `ldaps://` and for StartTLS.
 */
export function tlsConnectWithin(timeoutMs: number): typeof connect {
  // ldapts calls it as connect(port, host, options) and as connect(options); both pass through.
  return ((...args: Parameters<typeof connect>) => {
    const socket = connect(...args);
    const timer = setTimeout(() => {
      const error: NodeJS.ErrnoException = new Error(
        `TLS handshake not finished within ${timeoutMs} ms`,
      );
      error.code = 'ETIMEDOUT';
      socket.destroy(error);
    }, timeoutMs);
    // ldapts's startTLS() answers a failed handshake (an untrusted certificate, a peer that does
    // not speak TLS) with removeAllListeners() on this socket, 'close' below included, so the
    // timer can outlive the socket by timeoutMs. Unref'd, it never holds the process open by
    // itself; a handshake still in progress keeps the process running through its own socket.
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
    };
    socket.once('secureConnect', done).once('close', done);
    return socket;
  }) as typeof connect;
}

/** TLS options with certificate checks on, and the host name checked against the certificate. */
export function tlsOptionsFor(
  host: string,
  ca: string | Buffer | readonly (string | Buffer)[] | undefined,
): ConnectionOptions {
  return {
    host,
    // RFC 6066 §3: SNI carries host names only, never IP addresses.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(ca === undefined
      ? {}
      : { ca: typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca] }),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}
