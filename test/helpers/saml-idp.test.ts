// Proves the SAML IdP fixture against the real @node-saml/node-saml SAML class (no mocks), and
// pins down which checks node-saml performs and which it leaves to the service provider built
// on it. The "does NOT check" block documents behaviour, it does not endorse it: each accepted
// case there is something the SP implementation has to check itself.
import { SAML, ValidateInResponseTo, type Profile, type SamlConfig } from '@node-saml/node-saml';
import { SignedXml } from 'xml-crypto';
import {
  NAMEID_FORMAT,
  SAML_STATUS,
  XSW_VARIANT_NUMBERS,
  createSamlIdp,
  type SamlIdp,
  type XswVariant,
} from './saml-idp.js';

// No server is needed: node-saml validates the POST body directly. The port is arbitrary; the
// URL only has to look like the SP's real ACS endpoint.
const ACS_URL = 'http://127.0.0.1:3999/saml/acs';
const SP_ENTITY_ID = 'https://assistant.example.test/saml/metadata';
const ENTRA_EMAIL = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress';
const ENTRA_GROUPS = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups';
const ALICE = { nameId: 'alice@example.test' };

let idp: SamlIdp;

beforeAll(async () => {
  idp = await createSamlIdp({ acsUrl: ACS_URL, spEntityId: SP_ENTITY_ID });
});

/** The SP configuration the project will use; `overrides` vary one aspect per test. */
function sp(overrides: Partial<SamlConfig> = {}): SAML {
  return new SAML({
    callbackUrl: ACS_URL,
    entryPoint: idp.ssoUrl,
    issuer: SP_ENTITY_ID,
    audience: SP_ENTITY_ID,
    idpCert: idp.cert,
    idpIssuer: idp.entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    acceptedClockSkewMs: 0,
    validateInResponseTo: ValidateInResponseTo.never,
    ...overrides,
  });
}

async function accepted(SAMLResponse: string, saml = sp()): Promise<Profile> {
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse });
  if (!profile) throw new Error('validated, but without a profile');
  return profile;
}

/** The exact error message node-saml rejects with; fails the test when it accepts. */
async function rejection(SAMLResponse: string, saml = sp()): Promise<string> {
  let profile: Profile | null;
  try {
    ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse }));
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`node-saml ACCEPTED the message as ${String(profile?.nameID)}`);
}

const minutes = (n: number) => new Date(Date.now() + n * 60_000);

describe('the fixture', () => {
  test('makes a fresh RSA key and self-signed certificate, and IdP metadata', () => {
    expect(idp.cert).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(idp.certBase64).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(idp.cert.replace(/-----[A-Z ]+-----|\s/g, '')).toBe(idp.certBase64);
    expect(idp.otherCert).not.toBe(idp.cert);
    expect(idp.entityId).toBe('https://idp.example.test/saml');
    expect(idp.metadataXml).toContain(`entityID="${idp.entityId}"`);
    expect(idp.metadataXml).toContain(`<ds:X509Certificate>${idp.certBase64}<`);
    expect(idp.metadataXml).toContain(`Location="${idp.ssoUrl}"`);
  });

  test('reads the AuthnRequest ID and RelayState from an HTTP-Redirect URL', async () => {
    const location = await sp().getAuthorizeUrlAsync('relay-42', undefined, {});
    const request = idp.authnRequest(location);
    expect(location.startsWith(`${idp.ssoUrl}?SAMLRequest=`)).toBe(true);
    expect(request.id).toMatch(/^_[0-9a-f]+$/);
    expect(idp.samlRequestId(location)).toBe(request.id);
    expect(request).toMatchObject({
      relayState: 'relay-42',
      issuer: SP_ENTITY_ID,
      acsUrl: ACS_URL,
      destination: idp.ssoUrl,
    });
  });

  test('escapes attribute values and names', () => {
    // Unsigned: xml-crypto re-serializes signed documents (quotes in text then stay literal).
    const unsigned = { signResponse: false, signAssertion: false };
    const xml = idp.responseXml({ nameId: 'a&b', attributes: { 'x"y': '<&"\'>' }, ...unsigned });
    expect(xml).toContain('>a&amp;b</saml:NameID>');
    expect(xml).toContain('Name="x&quot;y"');
    expect(xml).toContain('>&lt;&amp;&quot;&apos;&gt;</saml:AttributeValue>');
  });

  // Guards the negative tests below: each wrapped message still carries a signature that a bare
  // xml-crypto checkSignature() accepts, so node-saml rejects it for the wrapping, not because
  // the fixture broke the cryptography.
  test.each(XSW_VARIANT_NUMBERS)('XSW%i keeps a cryptographically valid signature', (variant) => {
    const xml = Buffer.from(idp.wrapped(ALICE, variant), 'base64').toString('utf8');
    const signatures = xml.match(/<ds:Signature[\s\S]*?<\/ds:Signature>/g) ?? [];
    expect(signatures).toHaveLength(1);
    const verifier = new SignedXml({ publicCert: idp.cert });
    verifier.loadSignature(signatures[0]!);
    expect(verifier.checkSignature(xml)).toBe(true);
    expect(xml).toContain('>admin@example.test</saml:NameID>');
  });
});

describe('node-saml accepts', () => {
  test('a good response, signed on Response and Assertion, with its NameID and attributes', async () => {
    const profile = await accepted(
      idp.response({
        nameId: 'alice@example.test',
        sessionIndex: '_session-1',
        attributes: {
          [ENTRA_EMAIL]: 'alice@example.test',
          [ENTRA_GROUPS]: ['g-admins', 'R&D <core>'],
          firstName: 'Alice',
        },
      }),
    );
    expect(profile).toMatchObject({
      issuer: idp.entityId,
      nameID: 'alice@example.test',
      nameIDFormat: NAMEID_FORMAT.email,
      sessionIndex: '_session-1',
      attributes: {
        [ENTRA_EMAIL]: 'alice@example.test',
        [ENTRA_GROUPS]: ['g-admins', 'R&D <core>'],
        firstName: 'Alice',
      },
    });
  });

  test('an Assertion-only signature (the Entra ID default)', async () => {
    expect((await accepted(idp.response({ ...ALICE, signResponse: false }))).nameID).toBe(
      ALICE.nameId,
    );
  });

  test('a NameID split by a comment after signing, read in full (no CVE-2017-11427)', async () => {
    // Exclusive C14N drops comments, so the signature holds; node-saml reads the canonical
    // signed bytes, so the name is not truncated to the victim's address.
    const nameId = 'victim@example.test.evil.example';
    const splitAt = 'victim@example.test'.length;
    expect((await accepted(idp.nameIdCommentInjected({ nameId }, splitAt))).nameID).toBe(nameId);
  });
});

describe('node-saml rejects', () => {
  test('an unsigned response', async () => {
    expect(await rejection(idp.unsigned(ALICE))).toBe('Invalid signature');
  });

  test('a Response-only signature when assertions must be signed', async () => {
    expect(await rejection(idp.response({ ...ALICE, signAssertion: false }))).toBe(
      'Invalid signature',
    );
  });

  test('a signature by another key that advertises the IdP certificate in KeyInfo', async () => {
    expect(await rejection(idp.signedByOtherKey(ALICE))).toBe('Invalid signature');
  });

  test('a good response when the SP pins a different certificate', async () => {
    expect(await rejection(idp.response(ALICE), sp({ idpCert: idp.otherCert }))).toBe(
      'Invalid signature',
    );
  });

  test('a wrong audience', async () => {
    expect(
      await rejection(idp.response({ ...ALICE, audience: 'https://other.example.test' })),
    ).toBe(
      `SAML assertion audience mismatch. Expected: ${SP_ENTITY_ID} Received: https://other.example.test`,
    );
  });

  test('no AudienceRestriction', async () => {
    expect(await rejection(idp.response({ ...ALICE, audience: null }))).toBe(
      'SAML assertion has no AudienceRestriction',
    );
  });

  test('an expired assertion', async () => {
    expect(await rejection(idp.response({ ...ALICE, now: minutes(-10) }))).toBe(
      'SAML assertion expired: clocks skewed too much',
    );
  });

  test('an assertion that is not yet valid', async () => {
    expect(await rejection(idp.response({ ...ALICE, now: minutes(5) }))).toBe(
      'SAML assertion not yet valid',
    );
  });

  test('a NameID altered after signing', async () => {
    expect(await rejection(idp.nameIdAlteredAfterSigning(ALICE, 'admin@example.test'))).toBe(
      'Invalid signature',
    );
  });

  test('a non-success status, with the IdP message', async () => {
    const status = {
      code: SAML_STATUS.responder,
      subCode: SAML_STATUS.authnFailed,
      message: 'Account locked',
    };
    expect(await rejection(idp.response({ ...ALICE, status }))).toBe(
      'SAML provider returned Responder error: Account locked',
    );
  });

  test.each(['internal-entity', 'external-entity'] as const)(
    'a DOCTYPE whose %s is referenced (xmldom does not expand entities)',
    async (variant) => {
      const entity = variant === 'internal-entity' ? '&nameid;' : '&xxe;';
      expect(await rejection(idp.withDoctype(ALICE, variant))).toMatch(
        new RegExp(`^\\[xmldom error\\]\\tentity not found:${entity}`),
      );
    },
  );

  const PARENT = "Invalid signature: Referenced node does not refer to it's parent element";
  const XSW_REJECTIONS: Record<XswVariant, string> = {
    1: PARENT,
    2: PARENT,
    3: 'Invalid signature: multiple assertions',
    4: 'Invalid signature',
    5: 'Invalid signature: multiple assertions',
    6: PARENT,
    7: 'Invalid signature',
    8: PARENT,
  };

  test.each(XSW_VARIANT_NUMBERS)('signature wrapping XSW%i', async (variant) => {
    expect(await rejection(idp.wrapped(ALICE, variant))).toBe(XSW_REJECTIONS[variant]);
  });

  // The same attacks against SPs that trust a Response signature alone, or either signature:
  // node-saml's structural checks do not depend on wantAssertionsSigned.
  test.each(XSW_VARIANT_NUMBERS)('XSW%i also with only the Response signature required', (v) =>
    expect(
      rejection(
        idp.wrapped(ALICE, v),
        sp({ wantAuthnResponseSigned: true, wantAssertionsSigned: false }),
      ),
    ).resolves.toBe(v <= 2 ? PARENT : 'Invalid document signature'),
  );

  test.each(XSW_VARIANT_NUMBERS)('XSW%i also with either signature accepted', (v) =>
    expect(
      rejection(
        idp.wrapped(ALICE, v),
        sp({ wantAuthnResponseSigned: false, wantAssertionsSigned: false }),
      ),
    ).resolves.toBe(XSW_REJECTIONS[v]),
  );
});

describe('InResponseTo with validateInResponseTo: always', () => {
  const strict = () => sp({ validateInResponseTo: ValidateInResponseTo.always });

  test('accepts the answer to its own AuthnRequest once; the replay is rejected', async () => {
    const saml = strict();
    const inResponseTo = idp.samlRequestId(await saml.getAuthorizeUrlAsync('', undefined, {}));
    const samlResponse = idp.response({ ...ALICE, inResponseTo });
    expect((await accepted(samlResponse, saml)).inResponseTo).toBe(inResponseTo);
    expect(await rejection(samlResponse, saml)).toBe('InResponseTo is not valid');
  });

  test('rejects an unknown request ID and an unsolicited response', async () => {
    const saml = strict();
    expect(await rejection(idp.response({ ...ALICE, inResponseTo: '_unknown' }), saml)).toBe(
      'InResponseTo is not valid',
    );
    expect(await rejection(idp.response(ALICE), saml)).toBe(
      'InResponseTo is missing from response',
    );
  });

  test('rejects an expired SubjectConfirmationData when Conditions are still valid', async () => {
    const saml = strict();
    const inResponseTo = idp.samlRequestId(await saml.getAuthorizeUrlAsync('', undefined, {}));
    expect(
      await rejection(idp.response({ ...ALICE, inResponseTo, ...expiredConfirmation }), saml),
    ).toBe('No valid subject confirmation found among those available in the SAML assertion');
  });
});

/** SubjectConfirmationData expired a minute ago, Conditions valid: a validly signed message. */
const expiredConfirmation = {
  beforeSigning: (xml: string) =>
    xml.replace(
      /(<saml:SubjectConfirmationData[^>]*NotOnOrAfter=")[^"]*"/,
      (_all, head: string) => `${head}${minutes(-1).toISOString()}"`,
    ),
};

// Everything here is ACCEPTED by node-saml 5.1.0 with the project's configuration. These are the
// checks the SP must add on top (or configure differently) - not behaviour to rely on.
describe('node-saml does NOT check', () => {
  test('Response/@Destination: a wrong one or none at all is accepted', async () => {
    const wrong = 'https://attacker.example.test/saml/acs';
    expect((await accepted(idp.response({ ...ALICE, destination: wrong }))).nameID).toBe(
      ALICE.nameId,
    );
    expect((await accepted(idp.response({ ...ALICE, destination: null }))).nameID).toBe(
      ALICE.nameId,
    );
  });

  test('SubjectConfirmationData/@Recipient: a wrong one or none at all is accepted', async () => {
    const wrong = 'https://other-sp.example.test/saml/acs';
    expect((await accepted(idp.response({ ...ALICE, recipient: wrong }))).nameID).toBe(
      ALICE.nameId,
    );
    expect((await accepted(idp.response({ ...ALICE, recipient: null }))).nameID).toBe(ALICE.nameId);
  });

  test('Issuer, although idpIssuer is set (it only checks logout messages)', async () => {
    const issuer = 'https://foreign-idp.example.test';
    const profile = await accepted(idp.response({ ...ALICE, issuer }));
    expect(profile.issuer).toBe(issuer);
  });

  test('replay with validateInResponseTo never: the same response is accepted twice', async () => {
    const saml = sp();
    const samlResponse = idp.response(ALICE);
    await accepted(samlResponse, saml);
    expect((await accepted(samlResponse, saml)).nameID).toBe(ALICE.nameId);
  });

  test('replay with ifPresent: an unsolicited response is accepted twice', async () => {
    const saml = sp({ validateInResponseTo: ValidateInResponseTo.ifPresent });
    const samlResponse = idp.response(ALICE);
    await accepted(samlResponse, saml);
    expect((await accepted(samlResponse, saml)).nameID).toBe(ALICE.nameId);
  });

  test('replay with ifPresent: strip the unsigned Response/@InResponseTo and replay', async () => {
    // Only the Assertion is signed (Entra's default), so the Response's attributes are free to
    // edit; SubjectConfirmationData still names the consumed request, but node-saml only looks
    // there when the Response carries InResponseTo.
    const saml = sp({ validateInResponseTo: ValidateInResponseTo.ifPresent });
    const inResponseTo = idp.samlRequestId(await saml.getAuthorizeUrlAsync('', undefined, {}));
    const original = idp.responseXml({ ...ALICE, inResponseTo, signResponse: false });
    await accepted(Buffer.from(original).toString('base64'), saml);
    const stripped = original.replace(/(<samlp:Response[^>]*?) InResponseTo="[^"]*"/, '$1');
    expect(stripped).not.toBe(original);
    expect((await accepted(Buffer.from(stripped).toString('base64'), saml)).nameID).toBe(
      ALICE.nameId,
    );
  });

  test('SubjectConfirmationData/@NotOnOrAfter with validateInResponseTo never', async () => {
    expect((await accepted(idp.response({ ...ALICE, ...expiredConfirmation }))).nameID).toBe(
      ALICE.nameId,
    );
  });

  test('SubjectConfirmation/@Method: holder-of-key instead of bearer is accepted', async () => {
    const beforeSigning = (xml: string) => xml.replace(':cm:bearer', ':cm:holder-of-key');
    expect((await accepted(idp.response({ ...ALICE, beforeSigning }))).nameID).toBe(ALICE.nameId);
  });

  test('the signature algorithm: RSA-SHA1 with SHA-1 digests is accepted', async () => {
    // signatureAlgorithm/digestAlgorithm only configure what the SP itself signs.
    expect((await accepted(idp.response({ ...ALICE, digest: 'sha1' }))).nameID).toBe(ALICE.nameId);
  });

  test('assertion age: IssueInstant a day old is accepted while NotOnOrAfter is ahead', async () => {
    // maxAssertionAgeMs defaults to 0, which disables the check.
    const old = { ...ALICE, now: minutes(-24 * 60), notOnOrAfterSec: 2 * 24 * 3600 };
    expect((await accepted(idp.response(old))).nameID).toBe(ALICE.nameId);
  });

  test('DOCTYPE: a signed response with a DTD (unreferenced entities) is accepted', async () => {
    expect((await accepted(idp.withDoctype(ALICE, 'unused'))).nameID).toBe(ALICE.nameId);
  });
});
