import { generateKeyPairSync, createSecretKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWinstonAuditSink, type WinstonAuditSinkOptions } from '../../lib/index.js';
import { fileTransportOf, keyPair } from './audit-trail-fixture.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'eip-sink-options-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const file = () => join(dir, 'audit.log');
const privatePem = (key: ReturnType<typeof keyPair>['privateKey']) =>
  key.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('fields', () => {
  test.each(['gateway', 'ecs', 'both'] as const)('%s is accepted', (fields) => {
    expect(() => createWinstonAuditSink({ fields, console: false })).not.toThrow();
  });

  test('another value is refused, naming the option', () => {
    expect(() =>
      createWinstonAuditSink({ fields: 'elastic' } as unknown as WinstonAuditSinkOptions),
    ).toThrow(/^createWinstonAuditSink: option "fields"/);
  });

  test('a misspelled option gets a "did you mean"', () => {
    expect(() =>
      createWinstonAuditSink({ feilds: 'ecs' } as unknown as WinstonAuditSinkOptions),
    ).toThrow('createWinstonAuditSink: unknown option "feilds" (did you mean "fields"?)');
  });
});

describe('integrity', () => {
  test.each([
    ['an Ed25519 KeyObject', () => keyPair('EdDSA').privateKey],
    ['an EC P-256 PEM', () => privatePem(keyPair('ES256').privateKey)],
    [
      'an RSA private JWK',
      () => keyPair('RS256').privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
    ],
  ])('%s is accepted', (_what, key) => {
    const sink = createWinstonAuditSink({ filename: file(), integrity: { key: key() } });
    fileTransportOf(sink).close();
  });

  test.each([
    ['a public key', () => keyPair('EdDSA').publicKey, /a public key cannot sign/],
    ['an HMAC secret', () => createSecretKey(Buffer.alloc(32, 1)), /a secret key cannot sign/],
    [
      'a P-384 key',
      () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
      /got ec on secp384r1/,
    ],
    [
      'a 1024-bit RSA key',
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
      /RSA keys need at least 2048 bits \(got 1024\)/,
    ],
    ['a public JWK', () => keyPair('ES256').publicKey.export({ format: 'jwk' }), /no "d"/],
    ['text that is not a key', () => 'not a key', /must be a private key/],
  ])('%s is refused with a TypeError naming integrity.key', (_what, key, reason) => {
    const create = () => createWinstonAuditSink({ filename: file(), integrity: { key: key() } });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(/^createWinstonAuditSink: option "integrity.key": /);
    expect(create).toThrow(reason);
  });

  test('the message about a bad key never contains the key', () => {
    const pem = privatePem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
    let message = '';
    try {
      createWinstonAuditSink({ filename: file(), integrity: { key: pem } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/integrity\.key/);
    expect(message).not.toContain(pem.split('\n')[1]);
  });

  test.each([
    [{ integrity: { key: 'x' } }, /option "integrity" needs "filename"/],
    [{ filename: 'a.log', integrity: {} }, /option "integrity.key" is required/],
    [
      { filename: 'a.log', integrity: { key: 'x', checkpointEvery: 0 } },
      /"integrity.checkpointEvery"/,
    ],
    [
      { filename: 'a.log', integrity: { key: 'x', checkpointIntervalMs: 1.5 } },
      /"integrity.checkpointIntervalMs"/,
    ],
    [{ filename: 'a.log', integrity: { key: 'x', every: 5 } }, /unknown option "every"/],
  ])('%j is refused, naming the option', (options, message) => {
    expect(() => createWinstonAuditSink(options as unknown as WinstonAuditSinkOptions)).toThrow(
      message,
    );
  });
});

describe('reopenOnRotation', () => {
  test('needs filename', () => {
    expect(() => createWinstonAuditSink({ reopenOnRotation: true })).toThrow(
      'createWinstonAuditSink: option "reopenOnRotation" needs "filename"',
    );
  });

  test('rotationCheckIntervalMs must be an integer of at least 10', () => {
    expect(() =>
      createWinstonAuditSink({
        filename: file(),
        reopenOnRotation: true,
        rotationCheckIntervalMs: 1,
      }),
    ).toThrow(/option "rotationCheckIntervalMs"/);
  });
});
