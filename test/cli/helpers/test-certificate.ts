// A self-signed X.509 certificate with chosen dates, built with node:crypto alone: DER by hand,
// signed with RSA-SHA256. OpenSSL's command line (3.0) cannot backdate a certificate, and the
// doctor's tests need one that has already expired, and one that expires within days.
import { generateKeyPairSync, sign } from 'node:crypto';

function der(tag: number, content: Buffer): Buffer {
  const length =
    content.length < 0x80
      ? Buffer.from([content.length])
      : content.length < 0x100
        ? Buffer.from([0x81, content.length])
        : Buffer.from([0x82, content.length >> 8, content.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

const sequence = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
// Small positive integers only (version, serial): one byte, below 0x80 so no sign padding.
const integer = (value: number) => der(0x02, Buffer.from([value & 0x7f]));
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const NULL = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const part of rest) {
    const groups = [part & 0x7f];
    for (let value = part >> 7; value > 0; value >>= 7) groups.unshift((value & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

// RFC 5280 §4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050.
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]|\.\d+/g, '');
  return date.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(iso.slice(2)))
    : der(0x18, Buffer.from(iso));
}

/**
 * A PEM certificate for `CN=<commonName>`, valid from `notBefore` to `notAfter`, with a fresh
 * RSA key of `modulusLength` bits (the private key is discarded).
 */
export function selfSignedCertificate(options: {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  modulusLength?: number;
}): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: options.modulusLength ?? 2048,
  });
  const algorithm = sequence(oid('1.2.840.113549.1.1.11'), NULL); // sha256WithRSAEncryption
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8(options.commonName))));
  const tbs = sequence(
    der(0xa0, integer(2)), // version 3
    integer(Math.floor(Math.random() * 100) + 1),
    algorithm,
    name,
    sequence(time(options.notBefore), time(options.notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(
    tbs,
    algorithm,
    der(0x03, Buffer.concat([Buffer.from([0x00]), signature])),
  );
  const body = certificate.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body.trimEnd()}\n-----END CERTIFICATE-----\n`;
}
