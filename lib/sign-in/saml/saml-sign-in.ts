import type { Identity } from '../../core/identity.js';
import { parseOptions } from '../../core/options.js';
import type { SignInRequest } from '../../core/sign-in-request.js';
import { createSamlInstance } from './saml-instance.js';
import { samlOptionsSchema, type SamlSignInOptions } from './saml-options.js';
import { samlSettingsFrom } from './saml-settings.js';
import {
  finishSamlSignIn,
  type CompletedSamlSignIn,
  type PendingSamlSignIn,
} from './saml-sign-in-finish.js';
import { AuthnRequestIds, startSamlSignIn } from './saml-sign-in-start.js';
import { SingleLogoutSessions } from './saml-single-logout.js';

export type { CompletedSamlSignIn, PendingSamlSignIn } from './saml-sign-in-finish.js';

/** A configured SAML service provider: what a browser sign-in needs, on plain values. */
export interface SamlSignIn {
  readonly provider: 'saml';
  readonly acsUrl: string;
  /**
   * Starts a sign-in: the IdP URL carrying a new AuthnRequest, and that request's id, which the
   * caller binds to the browser (a sealed cookie) so that only this browser can complete it.
   */
  start(relayState: string): Promise<{ url: string; requestId: string }>;
  /**
   * Finishes a sign-in on the IdP's POST to the ACS (plain values: no framework needed). Checks
   * the raw `SAMLResponse` (size, base64, DOCTYPE, SHA-1), its signature and conditions, refuses
   * replays, and ties the response to the request this browser started: `pending` is what the
   * browser's pending cookie held, undefined when it had none. Every refusal is an
   * `IdentityError` (`saml_response_invalid` with a `details.reason`, or a 4xx/503 of its own).
   */
  finish(
    request: SignInRequest,
    pending: PendingSamlSignIn | undefined,
  ): Promise<CompletedSamlSignIn>;
  /** Whether unsolicited (IdP-initiated) responses are accepted. */
  readonly allowsIdpInitiated: boolean;
  /** This service provider's metadata XML, for the IdP's configuration. */
  metadata(): string;
  /**
   * Remembers what single logout needs (NameID, its format, the IdP's session index) for a
   * session, until `untilMs`. A no-op when the IdP has no single-logout URL.
   */
  rememberSession(sessionId: string, identity: Identity, untilMs: number): void;
  /**
   * The IdP's single-logout URL with a LogoutRequest for the session (HTTP-Redirect binding), or
   * undefined when the IdP has none or the session is unknown. The session is forgotten.
   */
  logoutUrl(sessionId: string): Promise<string | undefined>;
}

/**
 * A SAML 2.0 service provider for browser sign-in (Entra ID, AD FS, Okta), built on
 * `@node-saml/node-saml`, the engine of `@node-saml/passport-saml` (called directly: the
 * passport strategy needs an Express request, and its declarations pull Express 4 types into
 * every TypeScript consumer), with the checks that library leaves to its caller: Destination and
 * Recipient equal to the ACS URL, the configured IdP as Issuer, a bearer confirmation that has
 * not expired, `InResponseTo` tied to a request this application sent, replayed assertions
 * refused, no DOCTYPE, no SHA-1, and bounded message size. Signed assertions are required.
 *
 * @example
 * ```ts
 * const saml = createSamlSignIn({
 *   entityId: 'https://assistant.example.com/saml/metadata',
 *   acsUrl: 'https://assistant.example.com/auth/saml/acs',
 *   idp: { entityId: `https://sts.windows.net/${tenantId}/`, ssoUrl, certificates: [entraCert] },
 *   preset: 'entra',
 * });
 * app.use('/auth/saml', samlRoutes({ saml, tokens: sessions }));
 * ```
 */
export function createSamlSignIn(options: SamlSignInOptions): SamlSignIn {
  const parsed = parseOptions(samlOptionsSchema(), options, 'createSamlSignIn');
  const settings = samlSettingsFrom(parsed);
  const requestIds = new AuthnRequestIds();
  const saml = createSamlInstance(parsed, settings, requestIds.generate);
  const logout = new SingleLogoutSessions(saml, settings.sloUrl, settings.now);
  return Object.freeze({
    provider: 'saml',
    acsUrl: settings.acsUrl,
    allowsIdpInitiated: settings.allowsIdpInitiated,
    start: (relayState: string) => startSamlSignIn(saml, requestIds, relayState),
    finish: (request: SignInRequest, pending: PendingSamlSignIn | undefined) =>
      finishSamlSignIn(settings, saml, request, pending),
    rememberSession: (sessionId: string, identity: Identity, untilMs: number) => {
      logout.remember(sessionId, identity, untilMs);
    },
    logoutUrl: (sessionId: string) => logout.logoutUrl(sessionId),
    metadata: () => saml.generateServiceProviderMetadata(null, null),
  } satisfies SamlSignIn);
}
