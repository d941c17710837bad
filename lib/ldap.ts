// The directory sign-in, on its own entry point so that applications using only bearer tokens
// never load the LDAP client.
export { createLdapAuthenticator } from './providers/ldap/ldap-authenticator.js';
export type { LdapAuthenticatorOptions, LdapClient } from './providers/ldap/ldap-options.js';
export {
  DEFAULT_LDAP_CONNECT_TIMEOUT_MS,
  DEFAULT_LDAP_TIMEOUT_MS,
} from './providers/ldap/ldap-options.js';
export { AD_BIND_SUBCODES } from './providers/ldap/directory-errors.js';
export type {
  PasswordAuthenticator,
  PasswordCredentials,
  PasswordSignInContext,
} from './core/password-sign-in.js';
