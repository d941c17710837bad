import { SAML, ValidateInResponseTo, type CacheProvider } from '@node-saml/node-saml';
import { storeCall } from '../../core/store-call.js';
import type { ParsedSamlOptions, SamlSettings } from './saml-settings.js';

/** Default: 600 seconds for a sign-in at the IdP to come back. */
const DEFAULT_REQUEST_TTL_SEC = 600;

/**
 * The node-saml service provider: signed assertions required, SHA-256 for what it signs, the
 * IdP free to choose how the person authenticates, and `InResponseTo` tied to the requests it
 * sent. `generateUniqueId` names each AuthnRequest (see `AuthnRequestIds`).
 */
export function createSamlInstance(
  parsed: ParsedSamlOptions,
  settings: Pick<SamlSettings, 'clockSkewMs' | 'allowsIdpInitiated'>,
  generateUniqueId: () => string,
): SAML {
  return new SAML({
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
    acceptedClockSkewMs: settings.clockSkewMs,
    // Responses must answer a request this application sent: that ties them to the browser
    // that started the sign-in, and node-saml forgets each request id once it is answered.
    validateInResponseTo: settings.allowsIdpInitiated
      ? ValidateInResponseTo.ifPresent
      : ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: (parsed.requestTtlSec ?? DEFAULT_REQUEST_TTL_SEC) * 1000,
    ...(parsed.requestStore === undefined
      ? {}
      : { cacheProvider: storeFailuresAre503(parsed.requestStore) }),
    // The id of the next sign-in request, chosen by start() so that it can be bound to the
    // browser that asked for it; any other request gets a fresh random id.
    generateUniqueId,
    // Let the IdP choose how the person authenticates (MFA, Windows sign-in, passkeys).
    disableRequestedAuthnContext: true,
    identifierFormat: null,
    ...(parsed.idp.sloUrl === undefined ? {} : { logoutUrl: parsed.idp.sloUrl }),
  });
}

const REQUEST_STORE_DOWN =
  'The store of pending sign-in requests cannot be reached; retry shortly.';

/** A request-id store whose failures are outages (503), never a refused response (401). */
function storeFailuresAre503(store: CacheProvider): CacheProvider {
  return {
    saveAsync: (key, value) => storeCall(() => store.saveAsync(key, value), REQUEST_STORE_DOWN),
    getAsync: (key) => storeCall(() => store.getAsync(key), REQUEST_STORE_DOWN),
    removeAsync: (key) => storeCall(() => store.removeAsync(key), REQUEST_STORE_DOWN),
  };
}
