import { fail, ok, warn, type DoctorCheck } from './doctor-check.js';

/** Default: 30 days. A certificate that expires sooner is reported as a warning. */
export const CERTIFICATE_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/**
 * A certificate's expiry as a check: expired fails, fewer than 30 days left warns, otherwise
 * ok, each with the date and the days left.
 *
 * @example
 * ```ts
 * certificateExpiry('saml.certificate', 'CN=idp.example.com', new Date(cert.validTo));
 * ```
 */
export function certificateExpiry(
  id: string,
  what: string,
  validTo: Date,
  nowMs = Date.now(),
): DoctorCheck {
  const date = Number.isNaN(validTo.getTime()) ? 'an unreadable date' : validTo.toISOString();
  const days = Math.floor((validTo.getTime() - nowMs) / DAY_MS);
  if (Number.isNaN(days) || validTo.getTime() <= nowMs) {
    return fail(
      id,
      `${what} expired on ${date}`,
      'Replace the certificate: it is no longer accepted.',
    );
  }
  if (days < CERTIFICATE_WARNING_DAYS) {
    return warn(
      id,
      `${what} expires on ${date}, in ${days} day${days === 1 ? '' : 's'}`,
      'Renew the certificate, or get its successor, before it expires.',
    );
  }
  return ok(id, `${what} valid until ${date} (${days} days)`);
}
