import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A key that encrypts users' IdP tokens at rest: 32 bytes, named so that it can be rotated. */
export interface EncryptionKey {
  readonly id: string;
  readonly key: Buffer;
}

const VERSION = 'v1';

/**
 * AES-256-GCM with a random 96-bit nonce, and the entry's Redis key as additional data: a value
 * copied under another session's key does not decrypt. Written as `v1.<key id>.<iv>.<data>.<tag>`
 * so that the key that wrote it is found among the rotated ones. Node's own crypto does the
 * cipher; this only frames it.
 */
export function encryptValue(plain: string, aad: string, key: EncryptionKey): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const parts = [iv, data, cipher.getAuthTag()].map((part) => part.toString('base64url'));
  return [VERSION, key.id, ...parts].join('.');
}

/** The plain text, or an error when no configured key wrote it or it was altered. */
export function decryptValue(
  sealed: string,
  aad: string,
  keys: ReadonlyMap<string, EncryptionKey>,
): string {
  const [version, keyId = '', iv = '', data = '', tag = ''] = sealed.split('.');
  const key = keys.get(keyId);
  if (version !== VERSION || key === undefined) {
    throw new Error(`stored IdP tokens were encrypted with a key not configured (id "${keyId}")`);
  }
  const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'), {
    authTagLength: 16,
  });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([
    decipher.update(Buffer.from(data, 'base64url')),
    decipher.final(),
  ]).toString('utf8');
}
