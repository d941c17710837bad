import type { Profile, SAML } from '@node-saml/node-saml';
import { isIdentityError } from '../../core/errors.js';
import type { Identity } from '../../core/identity.js';
import type { SignInRequest } from '../../core/sign-in-request.js';
import { storeCall } from '../../core/store-call.js';
import { checkRawResponse, checkValidatedAssertion, samlRefused } from './saml-checks.js';
import { samlRefusedBy } from './saml-failure-reason.js';
import type { SamlSettings } from './saml-settings.js';

/** A sign-in this browser started: what its pending cookie carried back to the ACS. */
export interface PendingSamlSignIn {
  /** The id of the AuthnRequest sent; undefined when the pending cookie could not be opened. */
  readonly requestId?: string | undefined;
}

/** A SAML sign-in completed at the ACS: the person, and what their response answered. */
export interface CompletedSamlSignIn {
  readonly identity: Identity;
  /** The AuthnRequest the response answered (`InResponseTo`); undefined when unsolicited. */
  readonly requestId: string | undefined;
  /** The `RelayState` the IdP posted back (the return path of an unsolicited response). */
  readonly relayState: string | undefined;
}

type FinishSettings = Pick<
  SamlSettings,
  'limits' | 'allowsIdpInitiated' | 'policy' | 'assertionStore' | 'idpEntityId' | 'mapping'
>;

const ASSERTION_STORE_DOWN =
  'The store of used sign-in assertions cannot be reached; retry shortly.';

/**
 * Finishes a sign-in on the IdP's POST to the ACS: the raw `SAMLResponse` checked before any
 * XML parser sees it, node-saml's validation, the checks node-saml leaves to its caller, replays
 * refused, and the response tied to the request this browser started (`pending`).
 */
export async function finishSamlSignIn(
  settings: FinishSettings,
  saml: SAML,
  request: SignInRequest,
  pending: PendingSamlSignIn | undefined,
): Promise<CompletedSamlSignIn> {
  const form = request.body ?? {};
  checkRawResponse(form['SAMLResponse'], settings.limits);
  // The response must answer a request this browser started: nobody can then sign a victim
  // in as themselves (login CSRF) by making their browser post a response obtained elsewhere.
  if (pending === undefined && !settings.allowsIdpInitiated) {
    throw samlRefused('no_pending_sign_in');
  }
  const profile = await validatedProfile(saml, form);
  const identity = await firstUseIdentity(settings, profile).catch((error: unknown) => {
    throw isIdentityError(error) ? error : samlRefusedBy(error);
  });
  const requestId = answeredRequestId(profile, pending, settings.allowsIdpInitiated);
  const relayState = form['RelayState'];
  return {
    identity,
    requestId,
    relayState: typeof relayState === 'string' ? relayState : undefined,
  };
}

/** The identity in a posted response, before it is tied to the browser. */
async function validatedProfile(
  saml: SAML,
  form: Readonly<Record<string, unknown>>,
): Promise<Profile> {
  const container: Record<string, string> = { SAMLResponse: String(form['SAMLResponse']) };
  let result;
  try {
    result = await saml.validatePostResponseAsync(container);
  } catch (error) {
    throw isIdentityError(error) ? error : samlRefusedBy(error);
  }
  // A LogoutResponse posted to the ACS is no sign-in.
  if (result.loggedOut || result.profile === null) throw samlRefused('no_profile');
  return result.profile;
}

/**
 * The person in a validated profile, once its assertion passes the checks node-saml leaves to
 * its caller and is recorded as used: a second use of the same assertion is a replay.
 */
async function firstUseIdentity(settings: FinishSettings, profile: Profile): Promise<Identity> {
  const checked = await checkValidatedAssertion(profile, settings.policy);
  const firstUse = await storeCall(
    () =>
      settings.assertionStore.consume(`${settings.idpEntityId} ${checked.id}`, checked.expiresAtMs),
    ASSERTION_STORE_DOWN,
  );
  if (!firstUse) throw samlRefused('replayed');
  return settings.mapping.toIdentity(profile);
}

/**
 * The AuthnRequest a response answers (`InResponseTo`), refused unless it is the one this
 * browser's pending cookie names; with IdP-initiated sign-in allowed, a browser that started
 * nothing may bring an unsolicited response.
 */
function answeredRequestId(
  profile: Profile,
  pending: PendingSamlSignIn | undefined,
  allowsIdpInitiated: boolean,
): string | undefined {
  const inResponseTo = profile['inResponseTo'];
  const requestId = typeof inResponseTo === 'string' ? inResponseTo : undefined;
  if (
    (pending?.requestId === undefined && !allowsIdpInitiated) ||
    (pending?.requestId !== undefined && pending.requestId !== requestId)
  ) {
    throw samlRefused('response_for_another_browser');
  }
  return requestId;
}
