import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { SAML } from '@node-saml/node-saml';
import { IdentityError, isIdentityError } from '../../core/errors.js';

/**
 * The ids of the AuthnRequests node-saml sends. start() chooses the id of its request, so that
 * it can be bound to the browser that asked for it; any other request gets a fresh random id.
 */
export class AuthnRequestIds {
  #next: string | undefined;

  /** node-saml's `generateUniqueId`: the id start() chose, used once, or a fresh one. */
  readonly generate = (): string => {
    const id = this.#next ?? newRequestId();
    this.#next = undefined;
    return id;
  };

  /** Runs `build` with `id` as the id node-saml takes next, and only there. */
  withNext<T>(id: string, build: () => T): T {
    this.#next = id;
    try {
      return build();
    } finally {
      // node-saml takes the id synchronously; a later request must not get this one.
      this.#next = undefined;
    }
  }
}

/**
 * Starts a sign-in: the IdP URL carrying a new AuthnRequest (HTTP-Redirect binding), and that
 * request's id, checked to be the one the URL carries so that it can be bound to the browser.
 */
export async function startSamlSignIn(
  saml: SAML,
  requestIds: AuthnRequestIds,
  relayState: string,
): Promise<{ url: string; requestId: string }> {
  const requestId = newRequestId();
  const started = requestIds.withNext(requestId, () =>
    saml.getAuthorizeUrlAsync(relayState, undefined, {}),
  );
  const url = await started.catch((error: unknown) => {
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
}

function newRequestId(): string {
  return `_${randomBytes(21).toString('hex')}`;
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
