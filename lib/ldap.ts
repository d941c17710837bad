// The directory sign-in, on its own entry point so that applications using only bearer tokens
// never load the LDAP client.
export { createLdapAuthenticator } from './sign-in/ldap/ldap-authenticator.js';
export type { LdapAuthenticatorOptions, LdapClient } from './sign-in/ldap/ldap-options.js';
export {
  DEFAULT_LDAP_CONNECT_TIMEOUT_MS,
  DEFAULT_LDAP_TIMEOUT_MS,
} from './sign-in/ldap/ldap-options.js';
export { AD_BIND_SUBCODES } from './sign-in/ldap/directory-errors.js';
export type {
  PasswordAuthenticator,
  PasswordCredentials,
  PasswordSignInContext,
} from './core/password-sign-in.js';
