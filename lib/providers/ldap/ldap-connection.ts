import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, type ClientOptions } from 'ldapts';
import { directoryUnavailable } from './directory-errors.js';
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
 * keeps one user's bind from ever serving another's request. The whole exchange is bounded too:
 * a server that accepts the TCP connection and then stalls a TLS handshake would otherwise hold
 * the sign-in forever (ldapts's timeouts cover connect and each message, not the handshake).
 */
export async function withConnection<T>(
  settings: ConnectionSettings,
  operations: number,
  work: (client: LdapClient) => Promise<T>,
): Promise<T> {
  const client = settings.createClient({
    url: settings.url,
    connectTimeout: settings.connectTimeoutMs,
    timeout: settings.timeoutMs,
    ...(settings.startTls || settings.tlsOptions === undefined
      ? {}
      : { tlsOptions: settings.tlsOptions }),
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => {
        reject(directoryUnavailable('deadline', new Error('timed out')));
      },
      settings.connectTimeoutMs + operations * settings.timeoutMs,
    );
  });
  try {
    const run = async (): Promise<T> => {
      if (settings.startTls) {
        try {
          await client.startTLS(settings.tlsOptions);
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
