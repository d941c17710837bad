/** The identity fields a SAML attribute preset names. */
export interface SamlAttributeNames {
  readonly username: readonly string[];
  readonly email: readonly string[];
  readonly name: readonly string[];
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  /** Attributes announcing that groups were left out (Entra ID's groups overage). */
  readonly groupsOverage: readonly string[];
}

const WS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const MS = 'http://schemas.microsoft.com/ws/2008/06/identity/claims';

// OIDs from the eduPerson / inetOrgPerson schemas, which Shibboleth and Keycloak send.
const OID_UID = 'urn:oid:0.9.2342.19200300.100.1.1';
const OID_MAIL = 'urn:oid:0.9.2342.19200300.100.1.3';
const OID_DISPLAY_NAME = 'urn:oid:2.16.840.1.113730.3.1.241';
const OID_IS_MEMBER_OF = 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1';

/**
 * Attribute names per identity provider, so that one word replaces a page of mapping. Entra ID
 * and AD FS send WS-Federation claim URIs; Okta sends the plain names its admins configure.
 */
export const SAML_PRESETS = Object.freeze({
  generic: {
    username: ['username', 'uid', OID_UID, 'email', 'mail', OID_MAIL],
    email: ['email', 'mail', OID_MAIL],
    name: ['displayName', 'name', 'cn', OID_DISPLAY_NAME],
    groups: ['groups', 'memberOf', OID_IS_MEMBER_OF],
    roles: ['roles', 'role', 'Role'],
    groupsOverage: [],
  },
  // Entra ID: `name` holds the UPN; groups are object ids unless the app sends names; more than
  // 150 groups are replaced by a `groups.link` to Microsoft Graph.
  entra: {
    username: [`${WS}/name`, `${WS}/upn`, `${WS}/emailaddress`],
    email: [`${WS}/emailaddress`],
    name: ['http://schemas.microsoft.com/identity/claims/displayname', `${WS}/name`],
    groups: [`${MS}/groups`],
    roles: [`${MS}/role`],
    groupsOverage: ['http://schemas.microsoft.com/claims/groups.link'],
  },
  adfs: {
    username: [`${WS}/upn`, `${WS}/windowsaccountname`, `${WS}/emailaddress`],
    email: [`${WS}/emailaddress`],
    name: [`${WS}/name`, `${WS}/givenname`],
    groups: ['http://schemas.xmlsoap.org/claims/Group', `${MS}/groups`],
    roles: [`${MS}/role`],
    groupsOverage: [],
  },
  okta: {
    username: ['username', 'login', 'email'],
    email: ['email'],
    name: ['displayName', 'name', 'firstName'],
    groups: ['groups'],
    roles: ['roles'],
    groupsOverage: [],
  },
} satisfies Record<string, SamlAttributeNames>);

/** A SAML IdP whose attribute names are known (`entra`, `adfs`, `okta`...). */
export type SamlPresetName = keyof typeof SAML_PRESETS;
/** Every SAML preset's name, for option validation and documentation. */
export const SAML_PRESET_NAMES = Object.keys(SAML_PRESETS) as [SamlPresetName, ...SamlPresetName[]];
