import { connect as connectTcp } from 'node:net';
import { connect as connectTls, type PeerCertificate } from 'node:tls';
import { withConnection } from '../../sign-in/ldap/ldap-connection.js';
import { fail, ok, problemOf, warn, withinTimeout, type DoctorCheck } from './doctor-check.js';
import { certificateExpiry } from './certificate-expiry.js';
import type { LdapTarget } from './ldap-connection-settings.js';

/**
 * Whether the directory accepts TCP connections on its host and port.
 *
 * @example
 * ```ts
 * await checkReachable(target, 5000); // ok('ldap.reachable', 'dc1.company.com:636 accepts connections')
 * ```
 */
export async function checkReachable(target: LdapTarget, timeoutMs: number): Promise<DoctorCheck> {
  const { host } = target.connection;
  const where = `${host}:${target.port}`;
  try {
    await withinTimeout(timeoutMs, (signal) => tcpConnect(host, target.port, signal));
    return ok('ldap.reachable', `${where} accepts connections`);
  } catch (error) {
    return fail(
      'ldap.reachable',
      `${where} cannot be reached: ${problemOf(error)}`,
      'Check "host" and "port", that the directory runs, and firewalls on the way.',
    );
  }
}

function tcpConnect(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host, port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/**
 * Whether TLS to the directory is valid: for `ldaps`, the handshake with certificate and host
 * name checks as a sign-in makes it (and the certificate's expiry); for `starttls`, the upgrade
 * of a plain connection. Plain LDAP is a warning: passwords cross the network in clear.
 *
 * @example
 * ```ts
 * await checkTls(target, 5000);
 * ```
 */
export async function checkTls(target: LdapTarget, timeoutMs: number): Promise<DoctorCheck> {
  const fix =
    'Give the CA that signed the directory\'s certificate in "ca", and a "host" its certificate names.';
  if (target.tls === 'plaintext') {
    return warn(
      'ldap.tls',
      `${target.connection.url} without TLS (dangerouslyAllowPlaintext): passwords cross the network in clear`,
      'Use tls: "ldaps" or "starttls" unless the directory runs on this host.',
    );
  }
  try {
    if (target.tls === 'starttls') {
      await withConnection(target.connection, 0, () => Promise.resolve());
      return ok('ldap.tls', `${target.connection.url}: StartTLS upgrades with a valid certificate`);
    }
    const certificate = await withinTimeout(timeoutMs, (signal) => tlsHandshake(target, signal));
    return certificateExpiry(
      'ldap.tls',
      `${target.connection.url}: certificate ${subjectOf(certificate)}`,
      new Date(certificate.valid_to),
    );
  } catch (error) {
    return fail('ldap.tls', `${target.connection.url}: TLS fails: ${problemOf(error)}`, fix);
  }
}

function tlsHandshake(target: LdapTarget, signal: AbortSignal): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ ...target.connection.tlsOptions, port: target.port });
    const abort = () => socket.destroy(new Error('aborted'));
    signal.addEventListener('abort', abort, { once: true });
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerCertificate();
      socket.destroy();
      resolve(certificate);
    });
    socket.once('error', reject);
  });
}

function subjectOf(certificate: PeerCertificate): string {
  const subject = certificate.subject as Partial<Record<string, string>> | undefined;
  const issuer = certificate.issuer as Partial<Record<string, string>> | undefined;
  return `CN=${subject?.['CN'] ?? '?'} (issued by CN=${issuer?.['CN'] ?? '?'})`;
}
