// A real SAML 2.0 identity provider for tests of the service provider: per-run RSA keys and a
// self-signed certificate (openssl), hand-built Response/Assertion XML signed with xml-crypto
// (the library @node-saml/node-saml verifies with). The XML comes from templates rather than a
// SAML library because the fixture must also produce messages a correct IdP never would:
// forged signatures, XML signature wrapping, tampering after signing, DOCTYPEs.
//
// Replay: there is no `replay()` variant on purpose. Call `response()` once and post the same
// string twice; whether the second post is refused is the SP's job (InResponseTo bookkeeping or
// an assertion-ID cache), not something the IdP can encode in the message.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';

const execFileAsync = promisify(execFile);

export const SAML_NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

export const NAMEID_FORMAT = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
} as const;

export const SAML_STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  authnFailed: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed',
} as const;

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const ALGORITHMS = {
  sha256: {
    signature: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    digest: 'http://www.w3.org/2001/04/xmlenc#sha256',
  },
  sha1: {
    signature: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
    digest: 'http://www.w3.org/2000/09/xmldsig#sha1',
  },
} as const;

export const DEFAULT_IDP_ENTITY_ID = 'https://idp.example.test/saml';
export const DEFAULT_SSO_URL = 'https://idp.example.test/saml/sso';

export interface ResponseInput {
  nameId: string;
  /** Default: emailAddress. */
  nameIdFormat?: string;
  /** Names are used verbatim (Entra/AD FS claim URIs, Okta plain names); values are escaped. */
  attributes?: Record<string, string | string[]>;
  /** Set on the Response and on SubjectConfirmationData, as IdPs answering an AuthnRequest do. */
  inResponseTo?: string;
  /** Default: a random `_`-prefixed ID. */
  sessionIndex?: string;
  /** IssueInstant, AuthnInstant and NotBefore; default: the current time. */
  now?: Date;
  /** Lifetime of Conditions and SubjectConfirmationData from `now`; default 300. */
  notOnOrAfterSec?: number;
  /** Default: the SP entity ID; null leaves out the AudienceRestriction. */
  audience?: string | null;
  /** Response/@Destination; default: the ACS URL; null leaves the attribute out. */
  destination?: string | null;
  /** SubjectConfirmationData/@Recipient; default: the ACS URL; null leaves it out. */
  recipient?: string | null;
  /** Issuer of both Response and Assertion; default: the IdP entity ID. */
  issuer?: string;
  /** Default true: the Response carries its own enveloped signature (over the signed Assertion). */
  signResponse?: boolean;
  /** Default true. */
  signAssertion?: boolean;
  /** 'other': a different private key, while KeyInfo still advertises the IdP certificate. */
  signingKey?: 'idp' | 'other';
  /** 'sha1' means RSA-SHA1 signature and SHA-1 digest, as legacy IdPs send. Default 'sha256'. */
  digest?: 'sha256' | 'sha1';
  /** A non-success top-level status; the Response then carries no Assertion. */
  status?: { code: string; subCode?: string; message?: string };
  /** Edits the unsigned XML, BEFORE signing: validly signed but semantically odd messages. */
  beforeSigning?: (xml: string) => string;
  /** Edits the final XML, AFTER signing: tampering tests. */
  mutate?: (xml: string) => string;
}

/** XML signature wrapping (XSW) attacks, numbered as in SAML Raider / "On Breaking SAML" (2012). */
export const XSW_VARIANTS = {
  1: 'Response signature: evil Response at the root, the signed original (without its Signature) inside the root ds:Signature',
  2: 'Response signature: evil Response at the root, the signed original inserted as a sibling just before the ds:Signature (detached)',
  3: 'Assertion signature: evil unsigned Assertion inserted before the signed one',
  4: 'Assertion signature: evil unsigned Assertion replaces the signed one, which becomes its child',
  5: 'Assertion signature: signed Assertion edited in place (new ID, keeps its Signature); an unsigned copy of the original appended to the Response',
  6: 'Assertion signature: as 5, but the copy of the original sits inside the ds:Signature of the edited Assertion',
  7: 'Assertion signature: signed Assertion moved into samlp:Extensions; evil unsigned Assertion as the direct child of the Response',
  8: 'Assertion signature: as 6, but the copy of the original sits in a ds:Object inside the ds:Signature',
} as const;
export type XswVariant = keyof typeof XSW_VARIANTS;
export const XSW_VARIANT_NUMBERS = Object.keys(XSW_VARIANTS).map(Number) as XswVariant[];

export type DoctypeVariant = 'unused' | 'internal-entity' | 'external-entity';

export interface AuthnRequestInfo {
  id: string;
  relayState: string | undefined;
  issuer: string | undefined;
  acsUrl: string | undefined;
  destination: string | undefined;
  xml: string;
}

export interface SamlIdp {
  entityId: string;
  ssoUrl: string;
  acsUrl: string;
  spEntityId: string;
  /** The signing certificate, PEM, for the SP configuration. */
  cert: string;
  /** The same certificate as base64 DER without header lines (metadata, some SP configs). */
  certBase64: string;
  /** Certificate of the second, untrusted key pair ('other'): an SP configured with a wrong cert. */
  otherCert: string;
  metadataXml: string;
  /** A base64 SAMLResponse for the HTTP-POST binding. */
  response(input: ResponseInput): string;
  /** The XML `response()` would base64-encode (for inspection and custom tampering). */
  responseXml(input: ResponseInput): string;
  unsigned(input: ResponseInput): string;
  /** Signed with another key while KeyInfo carries the IdP certificate: a forged signature. */
  signedByOtherKey(input: ResponseInput): string;
  /**
   * An XSW attack: `input` is what the IdP really signed (typically the attacker's own account),
   * `forgedNameId` what the unsigned/evil part claims. Variants 1-2 attack a Response signature
   * (default signResponse true, signAssertion false); 3-8 an Assertion signature (default
   * signResponse false, signAssertion true). Explicit values in `input` win.
   */
  wrapped(input: ResponseInput, variant: XswVariant, forgedNameId?: string): string;
  nameIdAlteredAfterSigning(input: ResponseInput, newNameId: string): string;
  /**
   * The signed NameID gets an empty comment inserted at `splitAt` after signing. Exclusive C14N
   * drops comments, so the signature stays valid; an SP reading only the first text node would
   * see a truncated name (CVE-2017-11427 family). A correct SP reports `input.nameId` unchanged.
   */
  nameIdCommentInjected(input: ResponseInput, splitAt: number): string;
  /**
   * A signed Response with a DOCTYPE. 'unused': entities are declared (one external, file://)
   * but never referenced, so the signature is intact: only a DOCTYPE ban catches it.
   * 'internal-entity': the NameID text becomes `&nameid;`, an internal entity with the signed
   * value. 'external-entity': the NameID text becomes `&xxe;` (SYSTEM file:///etc/hostname).
   */
  withDoctype(input: ResponseInput, variant?: DoctypeVariant): string;
  /** The ID of the AuthnRequest in an HTTP-Redirect URL, for a matching InResponseTo. */
  samlRequestId(redirectLocation: string): string;
  authnRequest(redirectLocation: string): AuthnRequestInfo;
}

// @xmldom/xmldom's type declarations pull the DOM lib into the whole TypeScript program, which
// would change global types for every other file; a narrow local view of its API avoids that.
interface XNode {
  readonly nodeType: number;
  readonly parentNode: XNode | null;
  readonly nextSibling: XNode | null;
  readonly firstChild: XNode | null;
  readonly childNodes: ArrayLike<XNode>;
  readonly localName: string | null;
  readonly namespaceURI: string | null;
  data?: string;
  cloneNode(deep: boolean): XNode;
  appendChild(node: XNode): XNode;
  insertBefore(node: XNode, ref: XNode | null): XNode;
  removeChild(node: XNode): XNode;
  replaceChild(node: XNode, old: XNode): XNode;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  getElementsByTagNameNS(ns: string, localName: string): ArrayLike<XNode>;
}
interface XDocument extends XNode {
  readonly documentElement: XNode;
  createElementNS(ns: string, qualifiedName: string): XNode;
  createTextNode(text: string): XNode;
  createComment(text: string): XNode;
}
interface XmlDom {
  DOMParser: new (options?: object) => { parseFromString(xml: string, type: string): XDocument };
  XMLSerializer: new () => { serializeToString(node: XNode): string };
}
const xmldom = createRequire(import.meta.url)('@xmldom/xmldom') as XmlDom;

function parseXml(xml: string): XDocument {
  const fail = (message: string) => {
    throw new Error(`saml-idp: cannot parse XML: ${message}`);
  };
  return new xmldom.DOMParser({ errorHandler: { error: fail, fatalError: fail } }).parseFromString(
    xml,
    'text/xml',
  );
}

function serializeXml(doc: XDocument): string {
  return new xmldom.XMLSerializer().serializeToString(doc);
}

function children(parent: XNode, ns: string, localName: string): XNode[] {
  return Array.from(parent.childNodes).filter(
    (node) => node.nodeType === 1 && node.localName === localName && node.namespaceURI === ns,
  );
}

function child(parent: XNode, ns: string, localName: string): XNode {
  const found = children(parent, ns, localName)[0];
  if (!found) throw new Error(`saml-idp: no ${localName} child in ${String(parent.localName)}`);
  return found;
}

function setText(doc: XDocument, element: XNode, text: string): void {
  while (element.firstChild) element.removeChild(element.firstChild);
  element.appendChild(doc.createTextNode(text));
}

function nameIdOf(element: XNode): XNode {
  const nameId = element.getElementsByTagNameNS(SAML_NS.assertion, 'NameID')[0];
  if (!nameId) throw new Error('saml-idp: no NameID');
  return nameId;
}

/** Escapes text and attribute values alike; the templates only use double-quoted attributes. */
export function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// IDs are xs:ID, i.e. NCNames: they must not start with a digit.
function newId(prefix = '_'): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}

function toBase64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
}

async function selfSignedRsa(dir: string, name: string, cn: string) {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  // One openssl call makes a fresh RSA 2048 key and its self-signed certificate; SAML trusts the
  // pinned certificate itself, so no CA is involved.
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
  return { key, cert };
}

/** Inflates and parses the AuthnRequest of an HTTP-Redirect binding URL. */
export function parseAuthnRequest(redirectLocation: string): AuthnRequestInfo {
  const url = new URL(redirectLocation);
  const encoded = url.searchParams.get('SAMLRequest');
  if (encoded === null)
    throw new Error(`saml-idp: no SAMLRequest parameter in ${redirectLocation}`);
  // An SP that builds the query by hand may leave '+' unencoded, which URLSearchParams reads as
  // a space; base64 has no spaces, so mapping them back is lossless.
  const xml = inflateRawSync(Buffer.from(encoded.replace(/ /g, '+'), 'base64')).toString('utf8');
  const request = parseXml(xml).documentElement;
  if (request.localName !== 'AuthnRequest' || request.namespaceURI !== SAML_NS.protocol) {
    throw new Error(`saml-idp: SAMLRequest is a ${String(request.localName)}, not an AuthnRequest`);
  }
  const id = request.getAttribute('ID');
  if (!id) throw new Error('saml-idp: AuthnRequest without ID');
  const issuer = children(request, SAML_NS.assertion, 'Issuer')[0];
  return {
    id,
    relayState: url.searchParams.get('RelayState') ?? undefined,
    issuer: issuer ? (issuer.firstChild?.data ?? '') : undefined,
    acsUrl: request.getAttribute('AssertionConsumerServiceURL') ?? undefined,
    destination: request.getAttribute('Destination') ?? undefined,
    xml,
  };
}

export function samlRequestId(redirectLocation: string): string {
  return parseAuthnRequest(redirectLocation).id;
}

export async function createSamlIdp(options: {
  acsUrl: string;
  spEntityId: string;
  entityId?: string;
  ssoUrl?: string;
}): Promise<SamlIdp> {
  const entityId = options.entityId ?? DEFAULT_IDP_ENTITY_ID;
  const ssoUrl = options.ssoUrl ?? DEFAULT_SSO_URL;
  const { acsUrl, spEntityId } = options;

  // Keys exist only for this run: generated into a private temp dir that is removed right away.
  const dir = await mkdtemp(join(tmpdir(), 'saml-idp-'));
  let idp: { key: string; cert: string };
  let other: { key: string; cert: string };
  try {
    [idp, other] = await Promise.all([
      selfSignedRsa(dir, 'idp', 'idp.example.test'),
      selfSignedRsa(dir, 'other', 'idp.example.test'),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const certBase64 = pemBody(idp.cert);

  const metadataXml =
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<md:EntityDescriptor xmlns:md="${SAML_NS.metadata}" xmlns:ds="${SAML_NS.dsig}" entityID="${escapeXml(entityId)}">` +
    `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="${SAML_NS.protocol}">` +
    `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:NameIDFormat>${NAMEID_FORMAT.email}</md:NameIDFormat>` +
    `<md:NameIDFormat>${NAMEID_FORMAT.persistent}</md:NameIDFormat>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(ssoUrl)}"/>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(ssoUrl)}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`;

  function unsignedXml(input: ResponseInput): string {
    const now = input.now ?? new Date();
    const expires = new Date(now.getTime() + (input.notOnOrAfterSec ?? 300) * 1000);
    const at = now.toISOString();
    const until = expires.toISOString();
    const issuer = escapeXml(input.issuer ?? entityId);
    const audience = input.audience === undefined ? spEntityId : input.audience;
    const destination = input.destination === undefined ? acsUrl : input.destination;
    const recipient = input.recipient === undefined ? acsUrl : input.recipient;
    const inResponseTo =
      input.inResponseTo === undefined ? '' : ` InResponseTo="${escapeXml(input.inResponseTo)}"`;

    const attributes = Object.entries(input.attributes ?? {});
    const attributeStatement =
      attributes.length === 0
        ? ''
        : '<saml:AttributeStatement>' +
          attributes
            .map(
              ([name, value]) =>
                `<saml:Attribute Name="${escapeXml(name)}">` +
                (Array.isArray(value) ? value : [value])
                  .map(
                    (v) =>
                      `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`,
                  )
                  .join('') +
                '</saml:Attribute>',
            )
            .join('') +
          '</saml:AttributeStatement>';

    // The Assertion declares its own namespaces (as Entra and AD FS do), so it stays
    // self-contained when the wrapping attacks move it elsewhere in the document.
    const assertion =
      `<saml:Assertion xmlns:saml="${SAML_NS.assertion}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${newId()}" Version="2.0" IssueInstant="${at}">` +
      `<saml:Issuer>${issuer}</saml:Issuer>` +
      `<saml:Subject>` +
      `<saml:NameID Format="${escapeXml(input.nameIdFormat ?? NAMEID_FORMAT.email)}">${escapeXml(input.nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
      `<saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${until}"` +
      (recipient === null ? '' : ` Recipient="${escapeXml(recipient)}"`) +
      `/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${at}" NotOnOrAfter="${until}">` +
      (audience === null
        ? ''
        : `<saml:AudienceRestriction><saml:Audience>${escapeXml(audience)}</saml:Audience></saml:AudienceRestriction>`) +
      `</saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${at}" SessionIndex="${escapeXml(input.sessionIndex ?? newId())}">` +
      `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>` +
      `</saml:AuthnStatement>` +
      attributeStatement +
      `</saml:Assertion>`;

    const status = input.status ?? { code: SAML_STATUS.success };
    const statusXml =
      `<samlp:Status><samlp:StatusCode Value="${escapeXml(status.code)}">` +
      (status.subCode ? `<samlp:StatusCode Value="${escapeXml(status.subCode)}"/>` : '') +
      `</samlp:StatusCode>` +
      (status.message
        ? `<samlp:StatusMessage>${escapeXml(status.message)}</samlp:StatusMessage>`
        : '') +
      `</samlp:Status>`;

    return (
      `<?xml version="1.0" encoding="UTF-8"?>` +
      `<samlp:Response xmlns:samlp="${SAML_NS.protocol}" xmlns:saml="${SAML_NS.assertion}" ID="${newId()}" Version="2.0" IssueInstant="${at}"` +
      (destination === null ? '' : ` Destination="${escapeXml(destination)}"`) +
      `${inResponseTo}>` +
      `<saml:Issuer>${issuer}</saml:Issuer>` +
      statusXml +
      (status.code === SAML_STATUS.success ? assertion : '') +
      `</samlp:Response>`
    );
  }

  function sign(xml: string, target: 'Response' | 'Assertion', input: ResponseInput): string {
    const algorithms = ALGORITHMS[input.digest ?? 'sha256'];
    const xpath =
      target === 'Response'
        ? "/*[local-name(.)='Response']"
        : "/*[local-name(.)='Response']/*[local-name(.)='Assertion']";
    const signer = new SignedXml({
      privateKey: input.signingKey === 'other' ? other.key : idp.key,
      // KeyInfo always advertises the IdP certificate, also when another key signs: that is
      // what a forger would send, and the SP must verify against its pinned cert anyway.
      publicCert: idp.cert,
      signatureAlgorithm: algorithms.signature,
      canonicalizationAlgorithm: EXC_C14N,
    });
    signer.addReference({
      xpath,
      transforms: [ENVELOPED, EXC_C14N],
      digestAlgorithm: algorithms.digest,
    });
    // The SAML schema puts ds:Signature right after the Issuer of a Response or Assertion.
    signer.computeSignature(xml, {
      prefix: 'ds',
      location: { reference: `${xpath}/*[local-name(.)='Issuer']`, action: 'after' },
    });
    return signer.getSignedXml();
  }

  function responseXml(input: ResponseInput): string {
    let xml = unsignedXml(input);
    if (input.beforeSigning) xml = input.beforeSigning(xml);
    const hasAssertion = /<([\w-]+:)?Assertion[\s>]/.test(xml);
    // The Assertion first: the Response signature then covers the signed Assertion, as IdPs do.
    if ((input.signAssertion ?? true) && hasAssertion) xml = sign(xml, 'Assertion', input);
    if (input.signResponse ?? true) xml = sign(xml, 'Response', input);
    return input.mutate ? input.mutate(xml) : xml;
  }

  function editSigned(input: ResponseInput, edit: (doc: XDocument) => void): string {
    const doc = parseXml(responseXml({ ...input, mutate: undefined }));
    edit(doc);
    const xml = serializeXml(doc);
    return toBase64(input.mutate ? input.mutate(xml) : xml);
  }

  function wrapped(input: ResponseInput, variant: XswVariant, forgedNameId = 'admin@example.test') {
    const attacksResponse = variant === 1 || variant === 2;
    const signed = { signResponse: attacksResponse, signAssertion: !attacksResponse, ...input };
    return editSigned(signed, (doc) => {
      const response = doc.documentElement;
      const forge = (element: XNode) => setText(doc, nameIdOf(element), forgedNameId);
      const withoutSignature = (element: XNode) => {
        const copy = element.cloneNode(true);
        copy.removeChild(child(copy, SAML_NS.dsig, 'Signature'));
        return copy;
      };
      if (attacksResponse) {
        if (children(response, SAML_NS.dsig, 'Signature').length === 0) {
          throw new Error(`saml-idp: XSW${variant} needs a signed Response`);
        }
        const signature = child(response, SAML_NS.dsig, 'Signature');
        const original = withoutSignature(response);
        response.setAttribute('ID', newId('_evil'));
        forge(child(response, SAML_NS.assertion, 'Assertion'));
        if (variant === 1) signature.appendChild(original);
        else response.insertBefore(original, signature);
        return;
      }
      const assertion = child(response, SAML_NS.assertion, 'Assertion');
      if (children(assertion, SAML_NS.dsig, 'Signature').length === 0) {
        throw new Error(`saml-idp: XSW${variant} needs a signed Assertion`);
      }
      const signature = child(assertion, SAML_NS.dsig, 'Signature');
      const evil = () => {
        const copy = withoutSignature(assertion);
        copy.setAttribute('ID', newId('_evil'));
        forge(copy);
        return copy;
      };
      switch (variant) {
        case 3:
          response.insertBefore(evil(), assertion);
          break;
        case 4: {
          const outer = evil();
          response.replaceChild(outer, assertion);
          outer.appendChild(assertion);
          break;
        }
        case 5:
        case 6:
        case 8: {
          const original = withoutSignature(assertion);
          assertion.setAttribute('ID', newId('_evil'));
          forge(assertion);
          if (variant === 5) {
            response.appendChild(original);
          } else if (variant === 6) {
            signature.appendChild(original);
          } else {
            const object = doc.createElementNS(SAML_NS.dsig, 'ds:Object');
            object.appendChild(original);
            signature.appendChild(object);
          }
          break;
        }
        case 7: {
          // Extensions is the only protocol-schema slot for arbitrary content (after Issuer).
          const extensions = doc.createElementNS(SAML_NS.protocol, 'samlp:Extensions');
          response.insertBefore(
            extensions,
            child(response, SAML_NS.assertion, 'Issuer').nextSibling,
          );
          response.replaceChild(evil(), assertion);
          extensions.appendChild(assertion);
          break;
        }
      }
    });
  }

  function withDoctype(input: ResponseInput, variant: DoctypeVariant = 'unused'): string {
    const xml = responseXml({ ...input, mutate: undefined });
    const doctype =
      `<!DOCTYPE samlp:Response [` +
      `<!ENTITY nameid "${escapeXml(input.nameId)}">` +
      `<!ENTITY xxe SYSTEM "file:///etc/hostname">` +
      `]>`;
    let withDtd = xml.replace(/^(<\?xml[^>]*\?>)?/, (decl) => decl + doctype);
    if (variant !== 'unused') {
      const reference = variant === 'internal-entity' ? '&nameid;' : '&xxe;';
      withDtd = withDtd.replace(
        /(<saml:NameID[^>]*>)[^<]*(<\/saml:NameID>)/,
        (_all, open: string, close: string) => open + reference + close,
      );
    }
    return toBase64(input.mutate ? input.mutate(withDtd) : withDtd);
  }

  return {
    entityId,
    ssoUrl,
    acsUrl,
    spEntityId,
    cert: idp.cert,
    certBase64,
    otherCert: other.cert,
    metadataXml,
    response: (input) => toBase64(responseXml(input)),
    responseXml,
    unsigned: (input) =>
      toBase64(responseXml({ ...input, signResponse: false, signAssertion: false })),
    signedByOtherKey: (input) => toBase64(responseXml({ ...input, signingKey: 'other' })),
    wrapped,
    nameIdAlteredAfterSigning: (input, newNameId) =>
      editSigned(input, (doc) => setText(doc, nameIdOf(doc.documentElement), newNameId)),
    nameIdCommentInjected: (input, splitAt) =>
      editSigned(input, (doc) => {
        const nameId = nameIdOf(doc.documentElement);
        setText(doc, nameId, input.nameId.slice(0, splitAt));
        nameId.appendChild(doc.createComment(''));
        nameId.appendChild(doc.createTextNode(input.nameId.slice(splitAt)));
      }),
    withDoctype,
    samlRequestId,
    authnRequest: parseAuthnRequest,
  };
}
