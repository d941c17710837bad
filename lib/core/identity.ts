import { hash } from 'node:crypto';

/** Whether a human is behind the request, or a shared/application account. */
export type IdentityKind = 'user' | 'service';

/**
 * The party acting for the subject: an AI agent or client that holds a delegated token
 * (RFC 8693 §4.1 `act`). The subject stays the user; the actor never becomes the identity.
 */
export interface Actor {
  readonly subject: string;
  readonly issuer?: string;
  readonly clientId?: string;
  /** A delegation chain: the actor of this actor (RFC 8693 allows nesting). */
  readonly actor?: Actor;
}

/** The credential a request authenticated with; kept off the {@link Identity} object itself. */
export interface Credential {
  readonly type: 'bearer';
  readonly value: string;
  /** The audiences the token was issued for: where it may be forwarded (and nowhere else). */
  readonly audience: readonly string[];
  /** When the token expires, in seconds since the epoch. */
  readonly expiresAt?: number;
}

/**
 * One normalized identity, whatever the sign-in method: the person (or account) behind the
 * request. Frozen, and free of the raw credential, so it can be logged and serialized safely.
 */
export interface Identity {
  /** The stable identifier at the issuer (`sub`). With `issuer`, the key for this person. */
  readonly subject: string;
  readonly issuer: string;
  /** How the identity was established: `jwt`, and later `ldap`, `saml`, `oidc`. */
  readonly provider: string;
  readonly kind: IdentityKind;
  /** When `kind` is `service`: the name of the service-account rule that matched. */
  readonly serviceAccountRule?: string;
  /** The name the user is known by (the user claim: `preferred_username`, `upn`, `email`...). */
  readonly username: string;
  readonly email?: string;
  readonly name?: string;
  readonly groups: readonly string[];
  /**
   * False when the identity provider left groups out of the token (Entra ID's groups overage)
   * and no resolver filled them in: group and role checks then refuse rather than guess.
   */
  readonly groupsComplete: boolean;
  /** Roles from the token plus those the role mapping gives the groups. */
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** Other mapped claims (`claim_mapping` keys that are not standard fields). */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly actor?: Actor;
  /** The client (application) the credential was issued to (`azp`, `client_id`, `appid`, `cid`). */
  readonly clientId?: string;
  /** When the credential expires, in seconds since the epoch. */
  readonly expiresAt?: number;
  /**
   * The session of this package's own session token (`sid`): where the server keeps what
   * belongs to the sign-in (an OIDC user's tokens), and what sign-out ends.
   */
  readonly sessionId?: string;
  /**
   * A stable, non-reversible reference to the credential for audit trails: the `jti` when the
   * token has one, otherwise a truncated SHA-256 of the token. Never the token itself.
   */
  readonly credentialFingerprint?: string;
}

export type IdentityInput = Omit<Identity, 'credentialFingerprint' | 'groupsComplete'> & {
  readonly groupsComplete?: boolean;
  readonly tokenId?: string;
  /** The credential's SHA-256 (base64url), when the caller computed it already. */
  readonly tokenDigest?: string;
};

// The credential lives in a WeakMap keyed by the frozen identity, not on the object: it cannot
// reach JSON.stringify, util.inspect, a spread or a logger by accident, and it is collected with
// the identity. Only the outbound layer of this package reads it.
const credentials = new WeakMap<Identity, Credential>();

/** Builds a frozen {@link Identity}; the credential, if given, is attached out of band. */
export function createIdentity(input: IdentityInput, credential?: Credential): Identity {
  const { tokenId, tokenDigest, ...fields } = input;
  const identity: Identity = deepFreeze({
    ...fields,
    groups: unique(fields.groups),
    roles: unique(fields.roles),
    scopes: unique(fields.scopes),
    attributes: copyOf(fields.attributes),
    groupsComplete: fields.groupsComplete ?? true,
    ...(credential === undefined && tokenId === undefined
      ? {}
      : { credentialFingerprint: fingerprint(tokenId, tokenDigest, credential) }),
  });
  if (credential !== undefined) {
    credentials.set(
      identity,
      Object.freeze({ ...credential, audience: Object.freeze([...credential.audience]) }),
    );
  }
  return identity;
}

/** The credential an identity authenticated with, for forwarding to an allowed upstream. */
export function credentialOf(identity: Identity): Credential | undefined {
  return credentials.get(identity);
}

function fingerprint(
  tokenId: string | undefined,
  tokenDigest: string | undefined,
  credential: Credential | undefined,
): string {
  if (tokenId !== undefined) return `jti:${tokenId.slice(0, 128)}`;
  const digest = tokenDigest ?? hash('sha256', credential?.value ?? '', 'base64url');
  return `sha256:${digest.slice(0, 22)}`;
}

function unique(values: readonly string[]): string[] {
  return values.length < 2 ? [...values] : [...new Set(values)];
}

// A copy the caller cannot change afterwards. Most tokens map no extra attributes, and
// structuredClone costs microseconds even for an empty object.
function copyOf(attributes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  for (const key in attributes) {
    if (Object.hasOwn(attributes, key)) return structuredClone(attributes);
  }
  return {};
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
