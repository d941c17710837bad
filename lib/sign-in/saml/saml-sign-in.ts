import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { ValidateInResponseTo, type CacheProvider, type Profile } from '@node-saml/node-saml';
import passport from 'passport';
import { Strategy as SamlStrategy, type VerifiedCallback } from '@node-saml/passport-saml';
import { IdentityError, isIdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import { parseOptions } from '../../core/options.js';
import { createMemoryAssertionStore } from './assertion-store.js';
import { checkRawResponse, checkValidatedAssertion, samlRefused } from './saml-checks.js';
import { samlRefusedBy } from './saml-failure-reason.js';
import { compileProfileMapping } from './saml-identity.js';
import {
  DEFAULT_MAX_SAML_RESPONSE_BYTES,
  DEFAULT_SAML_CLOCK_SKEW_SEC,
  samlOptionsSchema,
  type SamlSignInOptions,
} from './saml-options.js';
import type { SignInHttpRequest } from '../../core/sign-in-http.js';

/** Default: 600 seconds for a sign-in at the IdP to come back. */
const DEFAULT_REQUEST_TTL_SEC = 600;

/** A configured SAML service provider: the passport strategy and what the routes need. */
export interface SamlSignIn {
  readonly provider: 'saml';
  readonly acsUrl: string;
  /**
   * The passport strategy (`@node-saml/passport-saml`), with this package's checks inside.
   * Typed opaquely: passport-saml's declarations are written against Express 4's types and do not
   * compile beside Express 5's in a consumer that checks library types.
   */
  readonly strategy: object;
  /**
   * Starts a sign-in: the IdP URL carrying a new AuthnRequest, and that request's id, which the
   * routes bind to the browser (a cookie) so that only this browser can complete it.
   */
  start(req: SignInHttpRequest, relayState: string): Promise<{ url: string; requestId: string }>;
  /** The sign-in request an identity's response answered (undefined when unsolicited). */
  answeredRequest(identity: Identity): string | undefined;
  /** Whether unsolicited (IdP-initiated) responses are accepted. */
  readonly allowsIdpInitiated: boolean;
  /** Checks a posted SAMLResponse before it is parsed (size, base64, DOCTYPE, SHA-1). */
  checkPostedResponse(body: unknown): void;
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

// Sessions whose single-logout details are kept; past this, the oldest are dropped (their
// sign-out is then local only, which the application's own session end already covers).
const MAX_REMEMBERED_SESSIONS = 100_000;

/**
 * A SAML 2.0 service provider for browser sign-in (Entra ID, AD FS, Okta), built on
 * `@node-saml/passport-saml` with the checks that library leaves to its caller: Destination and
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
  const parsed = parseOptions(samlOptionsSchema, options, 'createSamlSignIn');
  const now = parsed.now ?? Date.now;
  const clockSkewMs = (parsed.clockSkewSec ?? DEFAULT_SAML_CLOCK_SKEW_SEC) * 1000;
  const assertionStore = parsed.assertionStore ?? createMemoryAssertionStore({ now });
  const limits = {
    maxBytes: parsed.maxResponseBytes ?? DEFAULT_MAX_SAML_RESPONSE_BYTES,
    allowSha1: parsed.dangerouslyAllowSha1 ?? false,
  };
  const mapping = compileProfileMapping({
    preset: parsed.preset ?? 'generic',
    mapping: parsed.mapping,
    servicePatterns: parsed.serviceAccounts?.patterns ?? [],
  });
  const policy = {
    acsUrl: parsed.acsUrl,
    idpEntityId: parsed.idp.entityId,
    clockSkewMs,
    now,
    allowSha1: limits.allowSha1,
  };

  let nextRequestId: string | undefined;
  // The request each identity's response answered, for the browser binding in the routes.
  const answered = new WeakMap<Identity, string>();

  async function verify(profile: Profile | null): Promise<Identity> {
    if (profile === null) throw samlRefused('no_profile');
    const checked = await checkValidatedAssertion(profile, policy);
    let firstUse: boolean;
    try {
      firstUse = await assertionStore.consume(
        `${parsed.idp.entityId} ${checked.id}`,
        checked.expiresAtMs,
      );
    } catch (cause) {
      throw new IdentityError(
        'session_store_unavailable',
        'The store of used sign-in assertions cannot be reached; retry shortly.',
        { cause },
      );
    }
    if (!firstUse) throw samlRefused('replayed');
    const identity = mapping.toIdentity(profile);
    const inResponseTo = profile['inResponseTo'];
    if (typeof inResponseTo === 'string') answered.set(identity, inResponseTo);
    return identity;
  }

  const strategy = new SamlStrategy(
    {
      name: 'saml',
      callbackUrl: parsed.acsUrl,
      entryPoint: parsed.idp.ssoUrl,
      issuer: parsed.entityId,
      audience: parsed.entityId,
      idpCert: parsed.idp.certificates,
      idpIssuer: parsed.idp.entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      acceptedClockSkewMs: clockSkewMs,
      // Responses must answer a request this application sent: that ties them to the browser
      // that started the sign-in, and node-saml forgets each request id once it is answered.
      validateInResponseTo:
        parsed.dangerouslyAllowIdpInitiated === true
          ? ValidateInResponseTo.ifPresent
          : ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: (parsed.requestTtlSec ?? DEFAULT_REQUEST_TTL_SEC) * 1000,
      ...(parsed.requestStore === undefined
        ? {}
        : { cacheProvider: storeFailuresAre503(parsed.requestStore) }),
      // The id of the next sign-in request, chosen by start() so that it can be bound to the
      // browser that asked for it; any other request gets a fresh random id.
      generateUniqueId: () => {
        const id = nextRequestId ?? `_${randomBytes(21).toString('hex')}`;
        nextRequestId = undefined;
        return id;
      },
      // Let the IdP choose how the person authenticates (MFA, Windows sign-in, passkeys).
      disableRequestedAuthnContext: true,
      identifierFormat: null,
      ...(parsed.idp.sloUrl === undefined ? {} : { logoutUrl: parsed.idp.sloUrl }),
    },
    (profile: Profile | null, done: VerifiedCallback) => {
      verify(profile).then(
        (identity) => {
          done(null, identity as unknown as Record<string, unknown>);
        },
        (error: unknown) => {
          done(isIdentityError(error) ? error : samlRefusedBy(error));
        },
      );
    },
    (_profile: Profile | null, done: VerifiedCallback) => {
      // IdP-initiated logout requests are not handled here; sign-out goes through the routes.
      done(null, {});
    },
  );

  const sessions = new Map<string, { profile: Profile; untilMs: number }>();
  const sloUrl = parsed.idp.sloUrl;

  const authenticator = new passport.Passport();
  // passport-saml is typed against Express 4's declarations; the strategy is the same object.
  authenticator.use('saml', strategy as unknown as passport.Strategy);

  return Object.freeze({
    provider: 'saml',
    acsUrl: parsed.acsUrl,
    strategy,
    allowsIdpInitiated: parsed.dangerouslyAllowIdpInitiated === true,
    answeredRequest: (identity: Identity) => answered.get(identity),
    async start(req: SignInHttpRequest, relayState: string) {
      const requestId = `_${randomBytes(21).toString('hex')}`;
      const url = await new Promise<string>((resolve, reject) => {
        let location: string | undefined;
        // passport answers a sign-in start with a redirect on the response; this stand-in
        // collects it, so that the route can bind the request to the browser first.
        const redirect = {
          statusCode: 200,
          setHeader(name: string, value: unknown) {
            if (name.toLowerCase() === 'location') location = String(value);
          },
          end() {
            if (location === undefined) reject(new Error('no redirect to the IdP'));
            else resolve(location);
          },
        };
        const handler = authenticator.authenticate(
          'saml',
          {
            session: false,
            additionalParams: { RelayState: relayState },
          } as passport.AuthenticateOptions,
          (error: unknown) => {
            reject(error instanceof Error ? error : new Error('no redirect to the IdP'));
          },
        ) as (req: SignInHttpRequest, res: unknown, next: (error?: unknown) => void) => void;
        nextRequestId = requestId;
        handler(req, redirect, reject);
        // node-saml takes the id synchronously; a later request must not get this one.
        nextRequestId = undefined;
      }).catch((error: unknown) => {
        throw isIdentityError(error)
          ? error
          : new IdentityError('internal_error', 'The sign-in request could not be created.', {
              cause: error,
            });
      });
      if (!requestIdIn(url, requestId)) {
        throw new IdentityError(
          'internal_error',
          'The sign-in request could not be bound to this browser.',
        );
      }
      return { url, requestId };
    },
    rememberSession(sessionId: string, identity: Identity, untilMs: number) {
      if (sloUrl === undefined) return;
      if (sessions.size >= MAX_REMEMBERED_SESSIONS) {
        const oldest = sessions.keys().next().value;
        if (oldest !== undefined) sessions.delete(oldest);
      }
      const format = identity.attributes['name_id_format'];
      const sessionIndex = identity.attributes['saml_session_index'];
      sessions.set(sessionId, {
        profile: {
          issuer: identity.issuer,
          nameID: identity.subject,
          nameIDFormat:
            typeof format === 'string'
              ? format
              : 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
          ...(typeof sessionIndex === 'string' ? { sessionIndex } : {}),
        },
        untilMs,
      });
    },
    async logoutUrl(sessionId: string) {
      const remembered = sessions.get(sessionId);
      sessions.delete(sessionId);
      if (sloUrl === undefined || remembered === undefined || remembered.untilMs <= now()) {
        return undefined;
      }
      return new Promise<string | undefined>((resolve, reject) => {
        strategy.logout(
          { user: remembered.profile, query: {}, body: {} } as never,
          (error: Error | null, url?: string | null) => {
            if (error !== null) reject(error);
            else resolve(url ?? undefined);
          },
        );
      });
    },
    checkPostedResponse(body: unknown) {
      checkRawResponse(body, limits);
    },
    metadata: () => strategy.generateServiceProviderMetadata(null, null),
  });
}

// The AuthnRequest of an HTTP-Redirect URL names the id it was given (a deflated, base64 XML
// document whose root carries ID="..."); checked so that a change in node-saml fails closed.
function requestIdIn(url: string, requestId: string): boolean {
  try {
    const encoded = new URL(url).searchParams.get('SAMLRequest') ?? '';
    const xml = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
    return xml.includes(`ID="${requestId}"`);
  } catch {
    return false;
  }
}

/** A request-id store whose failures are outages (503), never a refused response (401). */
function storeFailuresAre503(store: CacheProvider): CacheProvider {
  const wrap =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (cause) {
        throw new IdentityError(
          'session_store_unavailable',
          'The store of pending sign-in requests cannot be reached; retry shortly.',
          { cause },
        );
      }
    };
  return {
    saveAsync: wrap((key: string, value: string) => store.saveAsync(key, value)),
    getAsync: wrap((key: string) => store.getAsync(key)),
    removeAsync: wrap((key: string | null) => store.removeAsync(key)),
  };
}
