import type { LdapAuthenticatorOptions } from '../../sign-in/ldap/ldap-options.js';
import {
  defaultClientFactory,
  tlsOptionsFor,
  type ConnectionSettings,
} from '../../sign-in/ldap/ldap-connection.js';

/** How the doctor reaches a directory: the sign-in's connection, with its own time limit. */
export interface LdapTarget {
  readonly connection: ConnectionSettings;
  readonly port: number;
  /** `ldaps`, `starttls`, or `plaintext` (`dangerouslyAllowPlaintext`). */
  readonly tls: 'ldaps' | 'starttls' | 'plaintext';
}

/**
 * The connection `createLdapAuthenticator()` would open for these (already validated) options,
 * with each step's limit capped at `timeoutMs`: the same URL, port, TLS mode, CA, host-name
 * check and client factory as a sign-in.
 *
 * @example
 * ```ts
 * const target = ldapTarget(options, 5000);
 * target.connection.url; // 'ldaps://dc1.company.com:636'
 * ```
 */
export function ldapTarget(options: LdapAuthenticatorOptions, timeoutMs: number): LdapTarget {
  const tls = options.dangerouslyAllowPlaintext === true ? 'plaintext' : (options.tls ?? 'ldaps');
  const port = options.port ?? (tls === 'ldaps' ? 636 : 389);
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    port,
    tls,
    connection: Object.freeze({
      url: `${tls === 'ldaps' ? 'ldaps' : 'ldap'}://${host}:${port}`,
      host: options.host,
      startTls: tls === 'starttls',
      tlsOptions: tls === 'plaintext' ? undefined : tlsOptionsFor(options.host, options.ca),
      connectTimeoutMs: Math.min(options.connectTimeoutMs ?? timeoutMs, timeoutMs),
      timeoutMs: Math.min(options.timeoutMs ?? timeoutMs, timeoutMs),
      createClient: options.createClient ?? defaultClientFactory,
    }),
  };
}
