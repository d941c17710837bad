import type { Profile } from '@node-saml/node-saml';
import xml2js from 'xml2js';
import { IdentityError } from '../../core/errors.js';

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
// XML-DSig's SHA-1 algorithm URIs (signature and digest).
const SHA1_ALGORITHMS = /xmldsig#(?:rsa-|dsa-|hmac-)?sha1["']/i;
const BASE64 = /^[A-Za-z0-9+/\r\n]+={0,2}\s*$/;

/** A refusal of a SAML response: always a 401, whatever is wrong with it, never a 500. */
export function samlRefused(reason: string, cause?: unknown): IdentityError {
  return new IdentityError(
    'saml_response_invalid',
    'The sign-in response from the identity provider was not accepted. Start the sign-in again from this application; if it keeps failing, ask an administrator to check the SAML configuration.',
    { ...(cause === undefined ? {} : { cause }), details: { reason } },
  );
}

/**
 * Checks a posted `SAMLResponse` before any XML parser sees it: present, base64, bounded, no
 * DOCTYPE (entity expansion and external entities live there; SAML never needs one), and no
 * SHA-1 algorithm (xml-crypto accepts it, and node-saml's algorithm options apply only to what
 * the service provider signs).
 */
export function checkRawResponse(
  body: unknown,
  limits: { maxBytes: number; allowSha1: boolean },
): string {
  if (typeof body !== 'string' || body.length === 0) {
    throw new IdentityError(
      'invalid_request',
      'Post the identity provider\'s "SAMLResponse" form field to this address.',
    );
  }
  if (body.length > limits.maxBytes) {
    throw new IdentityError(
      'request_too_large',
      `The SAMLResponse is larger than ${limits.maxBytes} bytes.`,
    );
  }
  if (!BASE64.test(body)) throw samlRefused('not_base64');
  const xml = Buffer.from(body, 'base64').toString('utf8');
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) throw samlRefused('doctype');
  if (!limits.allowSha1 && SHA1_ALGORITHMS.test(xml)) throw samlRefused('sha1_signature');
  return body;
}

/** What the service provider requires of a validated response, beyond node-saml's checks. */
export interface AssertionPolicy {
  readonly acsUrl: string;
  readonly idpEntityId: string;
  readonly clockSkewMs: number;
  readonly now: () => number;
  readonly allowSha1: boolean;
}

/** The facts of a checked assertion that the replay check needs. */
export interface CheckedAssertion {
  readonly id: string;
  /** When the assertion can no longer be used (its bearer confirmation's NotOnOrAfter). */
  readonly expiresAtMs: number;
}

type XmlNode = Record<string, unknown> & { $?: Record<string, string>; _?: string };

/**
 * The checks node-saml leaves to its caller, made on what node-saml verified (the signed
 * assertion it returns, immune to signature wrapping) plus the response envelope:
 * - the Response's `Destination` is this ACS URL (SAML Core §3.2.2; Profiles §4.1.4.5);
 * - the Response's and the assertion's `Issuer` is the configured IdP (node-saml checks the
 *   issuer of logout messages only);
 * - a bearer `SubjectConfirmation` whose `Recipient` is this ACS URL, with a `NotOnOrAfter` in
 *   the future and, when the response answers a request, the same `InResponseTo`
 *   (Profiles §4.1.4.2); holder-of-key confirmations cannot be honoured by a browser SP.
 */
export async function checkValidatedAssertion(
  profile: Profile,
  policy: AssertionPolicy,
): Promise<CheckedAssertion> {
  const assertion = (profile.getAssertion?.() as { Assertion?: XmlNode } | undefined)?.Assertion;
  const responseXml = profile.getSamlResponseXml?.();
  if (assertion === undefined || responseXml === undefined) throw samlRefused('no_assertion');
  let parsed: { Response?: XmlNode };
  try {
    parsed = (await xml2js.parseStringPromise(responseXml, {
      explicitRoot: true,
      explicitCharkey: true,
      tagNameProcessors: [xml2js.processors.stripPrefix],
    })) as { Response?: XmlNode };
  } catch (cause) {
    throw samlRefused('malformed_response', cause);
  }
  const response = parsed.Response;
  if (response === undefined) throw samlRefused('not_a_response');
  // The raw-text check misses an algorithm spelled with character references (`&#x23;`); the
  // parsed attribute values cannot hide it.
  if (!policy.allowSha1 && usesSha1(parsed)) throw samlRefused('sha1_signature');
  if (response.$?.['Destination'] !== policy.acsUrl) throw samlRefused('wrong_destination');
  const responseIssuer = textOf(first(response['Issuer']));
  if (responseIssuer !== undefined && responseIssuer !== policy.idpEntityId) {
    throw samlRefused('wrong_issuer');
  }
  if (textOf(first(assertion['Issuer'])) !== policy.idpEntityId) throw samlRefused('wrong_issuer');

  const inResponseTo = response.$['InResponseTo'];
  const nowMs = policy.now();
  const bearers = list(first(assertion['Subject'])?.['SubjectConfirmation'])
    .filter((confirmation) => confirmation.$?.['Method'] === BEARER)
    .map((confirmation) => first(confirmation['SubjectConfirmationData'])?.$ ?? {});
  if (bearers.length === 0) throw samlRefused('not_bearer');
  const problems = bearers.map((data) => confirmationProblem(data, inResponseTo, nowMs, policy));
  const usable = bearers[problems.indexOf(undefined)];
  // None usable: the audit event names what was wrong with the first (there is rarely more).
  if (usable === undefined) throw samlRefused(problems[0] ?? 'subject_confirmation_invalid');
  const id = assertion.$?.['ID'];
  if (id === undefined || id.length === 0) throw samlRefused('no_assertion_id');
  return { id, expiresAtMs: Date.parse(usable['NotOnOrAfter'] ?? '') + policy.clockSkewMs };
}

/** What makes a bearer confirmation unusable here (Profiles §4.1.4.2), or undefined. */
function confirmationProblem(
  data: Record<string, string>,
  inResponseTo: string | undefined,
  nowMs: number,
  policy: AssertionPolicy,
): string | undefined {
  if (data['Recipient'] !== policy.acsUrl) return 'wrong_recipient';
  const notOnOrAfter = data['NotOnOrAfter'];
  if (notOnOrAfter === undefined) return 'subject_confirmation_no_expiry';
  if (!(Date.parse(notOnOrAfter) + policy.clockSkewMs > nowMs)) {
    return 'subject_confirmation_expired';
  }
  // A bearer confirmation must not carry NotBefore (Profiles §4.1.4.2).
  if (data['NotBefore'] !== undefined) return 'subject_confirmation_not_before';
  if (inResponseTo !== undefined && data['InResponseTo'] !== inResponseTo) {
    return 'in_response_to_mismatch';
  }
  return undefined;
}

const SHA1_URIS = new Set([
  'http://www.w3.org/2000/09/xmldsig#sha1',
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#dsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
]);

function usesSha1(node: unknown, depth = 0): boolean {
  if (depth > 40 || typeof node !== 'object' || node === null) return false;
  if (Array.isArray(node)) return node.some((item) => usesSha1(item, depth + 1));
  for (const [key, value] of Object.entries(node)) {
    if (key === '$' && typeof value === 'object' && value !== null) {
      const algorithm = (value as Record<string, unknown>)['Algorithm'];
      if (typeof algorithm === 'string' && SHA1_URIS.has(algorithm.trim())) return true;
    } else if (usesSha1(value, depth + 1)) {
      return true;
    }
  }
  return false;
}

function first(value: unknown): XmlNode | undefined {
  return Array.isArray(value) ? (value[0] as XmlNode | undefined) : undefined;
}

function list(value: unknown): XmlNode[] {
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}

function textOf(node: XmlNode | undefined): string | undefined {
  return typeof node?._ === 'string' ? node._.trim() : undefined;
}
