import type { Profile, SAML } from '@node-saml/node-saml';
import type { Identity } from '../../core/identity.js';

// Sessions whose single-logout details are kept; past this, the oldest are dropped (their
// sign-out is then local only, which the application's own session end already covers).
const MAX_REMEMBERED_SESSIONS = 100_000;

const UNSPECIFIED_NAME_ID_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/**
 * SAML single logout: what a LogoutRequest needs of each session (NameID, its format, the
 * IdP's session index), kept in memory until the session ends. Does nothing when the IdP has no
 * single-logout URL.
 */
export class SingleLogoutSessions {
  readonly #sessions = new Map<string, { profile: Profile; untilMs: number }>();
  readonly #saml: SAML;
  readonly #sloUrl: string | undefined;
  readonly #now: () => number;

  constructor(saml: SAML, sloUrl: string | undefined, now: () => number) {
    this.#saml = saml;
    this.#sloUrl = sloUrl;
    this.#now = now;
  }

  /** Remembers a session's single-logout details until `untilMs`. */
  remember(sessionId: string, identity: Identity, untilMs: number): void {
    if (this.#sloUrl === undefined) return;
    if (this.#sessions.size >= MAX_REMEMBERED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    this.#sessions.set(sessionId, { profile: logoutProfile(identity), untilMs });
  }

  /**
   * The IdP's single-logout URL with a LogoutRequest for the session (HTTP-Redirect binding),
   * or undefined when the IdP has none or the session is unknown. The session is forgotten.
   */
  async logoutUrl(sessionId: string): Promise<string | undefined> {
    const remembered = this.#sessions.get(sessionId);
    this.#sessions.delete(sessionId);
    if (
      this.#sloUrl === undefined ||
      remembered === undefined ||
      remembered.untilMs <= this.#now()
    ) {
      return undefined;
    }
    return this.#saml.getLogoutUrlAsync(remembered.profile, '', {});
  }
}

/** The profile node-saml builds a LogoutRequest from, out of the signed-in identity. */
function logoutProfile(identity: Identity): Profile {
  const format = identity.attributes['name_id_format'];
  const sessionIndex = identity.attributes['saml_session_index'];
  return {
    issuer: identity.issuer,
    nameID: identity.subject,
    nameIDFormat: typeof format === 'string' ? format : UNSPECIFIED_NAME_ID_FORMAT,
    ...(typeof sessionIndex === 'string' ? { sessionIndex } : {}),
  };
}
