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

// The credential lives in a private field stamped onto the identity, not in a property: it
// cannot reach JSON.stringify, util.inspect, a spread, structuredClone or a logger by accident,
// and no reflection reaches it. Only the outbound layer of this package reads it. A private
// field rather than a WeakMap keyed by the identity: a WeakMap entry per identity is an
// ephemeron the garbage collector traces on every cycle, which cost more than the rest of
// building the identity at thousands of new tokens a second.
//
// The identity itself stays a plain object (its prototype is Object.prototype, its
// constructor Object): a base class whose constructor returns the object it is given lets
// the subclass stamp private fields onto that object. Nothing reachable from an identity leads
// back to these classes, so no code holding one can read its credential or forge the memo.
// eslint-disable-next-line @typescript-eslint/no-extraneous-class -- the constructor is the point
class ReturnsItsArgument {
  constructor(target: object) {
    return target;
  }
}

let readCredential: (identity: Identity) => Credential | undefined;
let readMemo: (identity: Identity) => unknown;
let writeMemo: (identity: Identity, value: unknown) => void;

class IdentityStamp extends ReturnsItsArgument {
  readonly #credential: Credential | undefined;
  // What a layer above computes once per identity (the audit layer's cleaned fields), kept
  // with the identity for the same reason.
  #memo: unknown;

  constructor(target: object, credential: Credential | undefined) {
    super(target);
    this.#credential = credential;
  }

  static {
    readCredential = (identity) =>
      #credential in identity ? (identity as unknown as IdentityStamp).#credential : undefined;
    readMemo = (identity) =>
      #memo in identity ? (identity as unknown as IdentityStamp).#memo : undefined;
    writeMemo = (identity, value) => {
      if (#memo in identity) (identity as unknown as IdentityStamp).#memo = value;
    };
  }
}

/**
 * Builds the frozen {@link Identity} every sign-in method produces. Lists are de-duplicated,
 * attributes deep-copied, everything frozen; the credential, when given, is kept apart (see
 * {@link credentialOf}).
 */
export function createIdentity(input: IdentityInput, credential?: Credential): Identity {
  const identity: Record<string, unknown> = {};
  // Assigned field by field, in one order, rather than spread from the input: one object and
  // one shape for every identity, and no field the input type does not name.
  identity['subject'] = input.subject;
  identity['issuer'] = input.issuer;
  identity['provider'] = input.provider;
  identity['kind'] = input.kind;
  if (input.serviceAccountRule !== undefined) {
    identity['serviceAccountRule'] = input.serviceAccountRule;
  }
  identity['username'] = input.username;
  if (input.email !== undefined) identity['email'] = input.email;
  if (input.name !== undefined) identity['name'] = input.name;
  identity['groups'] = uniqueFrozen(input.groups);
  identity['groupsComplete'] = input.groupsComplete ?? true;
  identity['roles'] = uniqueFrozen(input.roles);
  identity['scopes'] = uniqueFrozen(input.scopes);
  identity['attributes'] = frozenCopy(input.attributes);
  if (input.actor !== undefined) identity['actor'] = deepFreeze(input.actor);
  if (input.clientId !== undefined) identity['clientId'] = input.clientId;
  if (input.expiresAt !== undefined) identity['expiresAt'] = input.expiresAt;
  if (input.sessionId !== undefined) identity['sessionId'] = input.sessionId;
  if (credential !== undefined || input.tokenId !== undefined) {
    identity['credentialFingerprint'] = fingerprint(input.tokenId, input.tokenDigest, credential);
  }
  // Stamped before it is frozen: private fields are not properties, but adding them to a
  // frozen object is on its way to being an error.
  new IdentityStamp(
    identity,
    credential === undefined
      ? undefined
      : Object.freeze({ ...credential, audience: Object.freeze([...credential.audience]) }),
  );
  return Object.freeze(identity) as unknown as Identity;
}

/**
 * The credential an identity was established with, for forwarding it (with the outbound
 * layer's rules). Undefined for identities without one (LDAP, SAML) and for copies.
 */
export function credentialOf(identity: Identity): Credential | undefined {
  return readCredential(identity);
}

/**
 * What a layer computed from an identity and keeps with it (once per identity, whatever the
 * number of requests it serves). Undefined until remembered, and for copies of an identity.
 * @internal
 */
export function identityMemo(identity: Identity): unknown {
  return readMemo(identity);
}

/** Keeps a value with an identity for {@link identityMemo}; ignored for copies. @internal */
export function rememberForIdentity(identity: Identity, value: unknown): void {
  writeMemo(identity, value);
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

const EMPTY: readonly string[] = Object.freeze([]);

function uniqueFrozen(values: readonly string[]): readonly string[] {
  if (values.length === 0) return EMPTY;
  return Object.freeze(values.length < 2 ? [...values] : [...new Set(values)]);
}

// A copy the caller cannot change afterwards. Most tokens map no extra attributes, and
// structuredClone costs microseconds even for an empty object.
function frozenCopy(attributes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  for (const key in attributes) {
    if (Object.hasOwn(attributes, key)) return deepFreeze(structuredClone(attributes));
  }
  return Object.freeze({});
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
