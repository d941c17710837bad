import { X509Certificate } from 'node:crypto';
import { MIN_RSA_MODULUS_BITS } from '../../bearer/algorithms.js';
import type { SamlSignInOptions } from '../../sign-in/saml/saml-options.js';
import { createSamlSignIn } from '../../sign-in/saml/saml-sign-in.js';
import { certificateExpiry } from './certificate-expiry.js';
import { fail, type DoctorCheck } from './doctor-check.js';

/**
 * Checks the SAML sign-in's settings: the options as `createSamlSignIn()` validates them, then
 * each IdP signing certificate: it parses, its key is strong enough, and its expiry (a warning
 * under 30 days, a failure once expired: responses signed under it are then refused).
 *
 * @example
 * ```ts
 * const lines = checkSaml(config.saml);
 * ```
 */
export function checkSaml(options: unknown, nowMs = Date.now()): DoctorCheck[] {
  try {
    createSamlSignIn(options as SamlSignInOptions);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return [fail('saml.options', error.message, 'Correct the option named.')];
  }
  const { idp } = options as SamlSignInOptions;
  return idp.certificates.map((pem, index) => {
    const name = `idp.certificates.${index}`;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      return fail(
        'saml.certificate',
        `${name} does not parse as an X.509 certificate`,
        "Copy the certificate again from the IdP's federation metadata (the whole PEM block).",
      );
    }
    const bits = certificate.publicKey.asymmetricKeyDetails?.modulusLength;
    const subject = `${name} (${certificate.subject.replace(/\n/g, ', ')})`;
    if (bits !== undefined && bits < MIN_RSA_MODULUS_BITS) {
      return fail(
        'saml.certificate',
        `${subject} has an RSA key of ${bits} bits`,
        `Ask the IdP for a signing key of at least ${MIN_RSA_MODULUS_BITS} bits.`,
      );
    }
    const notBefore = new Date(certificate.validFrom);
    if (notBefore.getTime() > nowMs) {
      return fail(
        'saml.certificate',
        `${subject} is not valid before ${notBefore.toISOString()}`,
        "Check this machine's clock, or keep the current certificate until then.",
      );
    }
    return certificateExpiry('saml.certificate', subject, new Date(certificate.validTo), nowMs);
  });
}
