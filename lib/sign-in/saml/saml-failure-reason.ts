import { SamlStatusError } from '@node-saml/node-saml';
import type { IdentityError } from '../../core/errors.js';
import { samlRefused } from './saml-checks.js';

/** A refusal by node-saml as this package's 401, with the precise reason for the audit event. */
export function samlRefusedBy(error: unknown): IdentityError {
  return samlRefused(samlFailureReason(error), error);
}

/**
 * Why node-saml refused a SAML response, as a stable snake_case string for the audit event's
 * `details.reason`. node-saml throws plain `Error`s, told apart only by their messages (those of
 * @node-saml/node-saml 5, pinned by the tests against a real signing IdP); one it does not know
 * is `invalid`. The client gets the same safe message whatever the reason.
 */
export function samlFailureReason(error: unknown): string {
  // The IdP answered with a non-success status (a locked account, a user not assigned to the
  // application): node-saml's SamlStatusError.
  if (error instanceof SamlStatusError) return 'idp_error_status';
  if (typeof error !== 'object' || error === null) return 'invalid';
  const message = (error as { message?: unknown }).message;
  if (typeof message !== 'string') return 'invalid';
  return BY_MESSAGE.find(([pattern]) => pattern.test(message))?.[1] ?? 'invalid';
}

const BY_MESSAGE: readonly (readonly [RegExp, string])[] = [
  // Several assertions (or encrypted ones) beside each other: a signature-wrapping shape.
  [/^Invalid signature: multiple assertions$/, 'multiple_assertions'],
  // No valid signature by a trusted certificate over the document or the assertion, including
  // the structural refusals of xml-crypto and node-saml's signature helpers.
  [
    /^(Invalid (document )?signature|Invalid signature(:| from| on)|Cannot obtain assertion from signed data|Too many signatures|Invalid signature, too many transforms|Only 1 signed references|ref URI included quote)/,
    'signature_invalid',
  ],
  [/^SAML assertion audience mismatch/, 'audience_mismatch'],
  [
    /^SAML assertion (has no AudienceRestriction|AudienceRestriction has no Audience)/,
    'audience_missing',
  ],
  [/^SAML assertion not yet valid$/, 'assertion_not_yet_valid'],
  [/^SAML assertion expired/, 'assertion_expired'],
  // node-saml discards bearer confirmations only for their time window (NotOnOrAfter passed,
  // the assertion too old, or a NotBefore, which bearer confirmations must not carry).
  [/^No valid subject confirmation found/, 'subject_confirmation_expired'],
  [/^InResponseTo is missing from response$/, 'in_response_to_missing'],
  // A request id unknown or already answered (node-saml forgets each once it is used): an
  // unsolicited response, a stale one, or a replay.
  [/^(Subject)?InResponseTo is not valid$/, 'in_response_to_unknown'],
  [/^InResponseTo does not match subjectInResponseTo$/, 'in_response_to_mismatch'],
  [/^Missing SAML assertion$/, 'no_assertion'],
  [/^Unable to process multiple conditions/, 'multiple_conditions'],
  [/^Unknown SAML response message$/, 'not_a_response'],
  [/^Invalid EncryptedAssertion content|^No decryption key/, 'encrypted_assertion_invalid'],
  [/^(Not a valid XML document|\[xmldom )/, 'malformed_xml'],
];
