/** The identity fields a claim mapping can fill; any other key becomes an attribute. */
export const IDENTITY_FIELDS = [
  'subject',
  'username',
  'email',
  'name',
  'groups',
  'roles',
  'scopes',
  'clientId',
] as const;

export type IdentityField = (typeof IDENTITY_FIELDS)[number];

/** Claim paths per field, tried in order (single values) or merged (lists). */
export type FieldPaths = Readonly<Record<IdentityField, readonly string[]>>;

const generic: FieldPaths = {
  subject: ['sub'],
  username: ['preferred_username', 'username', 'upn', 'email', 'sub'],
  email: ['email'],
  name: ['name'],
  groups: ['groups'],
  roles: ['roles'],
  // RFC 8693 §4.2 `scope` (a space-separated string) and the `scp` of Entra ID and Okta
  // (a string in one, an array in the other): both dialects are read.
  scopes: ['scope', 'scp'],
  clientId: ['azp', 'client_id', 'appid', 'cid'],
};

/**
 * Claim shapes of the identity providers users run, so that a one-word preset replaces a
 * page of mapping. A `claim_mapping` entry overrides the preset for that field only.
 */
export const CLAIM_PRESETS = {
  generic,
  // Entra ID v2 tokens name the user `preferred_username`; v1 tokens use `upn`/`unique_name`.
  // `roles` holds app roles; `groups` holds group object ids (or is replaced by an overage).
  entra: {
    ...generic,
    username: ['preferred_username', 'upn', 'unique_name', 'email', 'sub'],
    email: ['email', 'upn'],
    scopes: ['scp'],
    clientId: ['azp', 'appid'],
  },
  // Okta access tokens carry the login in `sub`, the user id in `uid`, scopes as an `scp` array.
  okta: {
    ...generic,
    username: ['preferred_username', 'sub'],
    email: ['email'],
    scopes: ['scp'],
    clientId: ['cid', 'client_id'],
  },
  // Auth0 RBAC puts API permissions in `permissions`; roles usually live in a namespaced claim
  // that the application names in its own claim_mapping.
  auth0: {
    ...generic,
    username: ['email', 'nickname', 'sub'],
    scopes: ['scope', 'permissions'],
    clientId: ['azp', 'client_id'],
  },
  // Keycloak puts realm roles under `realm_access.roles`; client roles under
  // `resource_access.<client>.roles` (add that path in claim_mapping for your client).
  keycloak: {
    ...generic,
    username: ['preferred_username', 'email', 'sub'],
    roles: ['realm_access.roles'],
    scopes: ['scope'],
    clientId: ['azp', 'client_id', 'clientId'],
  },
} as const satisfies Record<string, FieldPaths>;

/** The name of a claim preset: `generic`, `entra`, `okta`, `auth0` or `keycloak`. */
export type ClaimPresetName = keyof typeof CLAIM_PRESETS;

/** Every {@link ClaimPresetName}, for validation and documentation. */
export const CLAIM_PRESET_NAMES = Object.freeze(Object.keys(CLAIM_PRESETS) as ClaimPresetName[]);
