import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { ClientOptions, Control, SearchOptions, SearchResult } from 'ldapts';
import type { z } from 'zod';
import { mappingSchema } from '../../core/identity-mapping.js';
import { lazySchema } from '../../core/lazy-zod.js';
import { functionOption } from '../../core/option-schemas.js';

/** Default: 5000 (5 seconds) to connect, TLS handshake included (also the one after StartTLS). */
export const DEFAULT_LDAP_CONNECT_TIMEOUT_MS = 5_000;
/** Default: 5000 (5 seconds) for each bind or search. ldapts itself waits forever. */
export const DEFAULT_LDAP_TIMEOUT_MS = 5_000;
/** Default: 10 levels of nested groups followed on directories without an in-chain rule. */
export const DEFAULT_MAX_GROUP_DEPTH = 10;
/** Default: 1000 groups at most per user; more is a directory problem, not a person. */
export const DEFAULT_MAX_GROUPS = 1_000;

/** Options of `createLdapAuthenticator()`, named as data gateways name them. */
export const ldapOptionsSchema = lazySchema((z) => {
  const pem = z.union([z.string().min(1), z.instanceof(Buffer)]);
  const hostname = z
    .string()
    .min(1)
    .max(253)
    .refine(
      (value) => isIP(value) !== 0 || /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value),
      {
        message: 'must be a host name or IP address, without scheme, brackets or port (use "port")',
      },
    );
  return z.strictObject({
    /**
     * `active-directory` or `ldap` (OpenLDAP and others): decides the attribute names, how nested
     * groups are found, and how bind errors are read. Required.
     */
    type: z.enum(['active-directory', 'ldap']),
    /** The directory server's host name (required): it must match its TLS certificate. */
    host: hostname,
    /** Default: 636 with `tls: 'ldaps'`, 389 otherwise. */
    port: z.number().int().min(1).max(65_535).optional(),
    /**
     * Default: `ldaps`. `starttls` upgrades a connection on the plain port before any password is
     * sent; if the upgrade fails, nothing is sent.
     */
    tls: z.enum(['ldaps', 'starttls']).optional(),
    /** PEM CA certificate(s) that signed the directory's certificate. Default: Node's CA store. */
    ca: z.union([pem, z.array(pem).min(1)]).optional(),
    /**
     * Default: false. Sends passwords over plain `ldap://`. **Warning:** anyone on the network
     * path reads every password; only for a directory on the same host or in tests.
     */
    dangerouslyAllowPlaintext: z.boolean().optional(),
    /** Where users are searched (required), e.g. `DC=company,DC=com`. */
    baseDn: z.string().min(3).max(1_024),
    /**
     * Active Directory direct bind: appended to the username to form the UPN (`@company.com`).
     * Without `bindDn`, sign-in binds directly as `username + accountSuffix`. A full UPN in this
     * domain (`alice@company.com`, domain in any case) is accepted as `alice`; any other domain is
     * refused.
     */
    accountSuffix: z
      .string()
      .regex(/^@[A-Za-z0-9.-]+$/, 'must look like "@company.com"')
      .optional(),
    /**
     * Direct bind by DN: a template with `{username}`, e.g. `uid={username},ou=People,dc=x`.
     * The username is escaped as an RFC 4514 attribute value.
     */
    userDnTemplate: z.string().includes('{username}').optional(),
    /** Search-then-bind: the read-only account that finds users. With `bindPassword`. */
    bindDn: z.string().min(3).max(1_024).optional(),
    bindPassword: z.string().min(1).optional(),
    /** Search-then-bind: attributes a sign-in name is matched against. Default by `type`. */
    loginAttributes: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/))
      .min(1)
      .optional(),
    /** An RFC 4515 filter every user must also match. Default by `type` (people, not computers). */
    userFilter: z.string().min(3).max(2_048).optional(),
    /** Where groups are searched. Default: `baseDn`. */
    groupBaseDn: z.string().min(3).max(1_024).optional(),
    /** Default: 10. How deep nested groups are followed (type `ldap`). */
    maxGroupDepth: z.number().int().min(0).max(50).optional(),
    maxGroups: z.number().int().min(1).max(100_000).optional(),
    /** `{ claim_mapping, role_mapping }`: attribute names per identity field, groups to roles. */
    mapping: mappingSchema().optional(),
    /** Accounts that are not people: `kind: 'service'`, refused on AI routes and at sign-in. */
    serviceAccounts: z
      .strictObject({
        /** OUs (DNs) whose accounts are service accounts, e.g. `OU=Service Accounts,DC=x`. */
        ous: z.array(z.string().min(3)).optional(),
        /** Usernames or wildcard patterns (`svc-*`), or RegExps. */
        patterns: z.array(z.union([z.string().min(1), z.instanceof(RegExp)])).optional(),
      })
      .optional(),
    /**
     * Default: 5000. For the TCP connect with, for LDAPS, its TLS handshake; and for the TLS
     * handshake after StartTLS. A directory that accepts connections and then stalls the handshake
     * is a 503 after this long.
     */
    connectTimeoutMs: z.number().int().min(100).max(60_000).optional(),
    /**
     * Default: 5000. For each operation: the StartTLS request, each bind, each search. A sign-in
     * waits at most `connectTimeoutMs` + (operations × `timeoutMs`) (+ one of each for StartTLS),
     * where operations is 5 on Active Directory and 5 + `maxGroupDepth` elsewhere: 30 s and 80 s
     * with the defaults, reached only by a directory that answers every step just in time.
     */
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
    /** Injectable LDAP client factory (a proxy, a test transport). Default: ldapts `Client`. */
    createClient: functionOption<(options: ClientOptions) => LdapClient>().optional(),
  });
});

/** Options of `createLdapAuthenticator()`. */
export type LdapAuthenticatorOptions = z.input<ReturnType<typeof ldapOptionsSchema>>;

/**
 * The part of ldapts's `Client` this package uses. A replacement must send the `controls` of a
 * bind and, like ldapts, parse a response control into the request control of the same OID:
 * that is how the password policy's answer is read (a password that must be changed binds).
 */
export interface LdapClient {
  startTLS(options?: ConnectionOptions): Promise<void>;
  bind(dn: string, password?: string, controls?: Control | Control[]): Promise<void>;
  search(base: string, options?: SearchOptions): Promise<SearchResult>;
  unbind(): Promise<void>;
}

/** Defaults that differ between Active Directory and other directories. */
export const DIRECTORY_DEFAULTS = {
  'active-directory': {
    loginAttributes: ['sAMAccountName', 'userPrincipalName', 'mail'],
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    subjectAttribute: 'objectGUID',
    usernameAttribute: 'sAMAccountName',
  },
  ldap: {
    loginAttributes: ['uid', 'mail'],
    userFilter: '(objectClass=inetOrgPerson)',
    subjectAttribute: 'entryUUID',
    usernameAttribute: 'uid',
  },
} as const;
