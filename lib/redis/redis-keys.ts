import { createHash, createHmac } from 'node:crypto';

/**
 * The key of an entry: the prefix, the kind, and a SHA-256 of the id. Ids are hashed because
 * whoever reads Redis (a dump, a replica, a debugging session) must learn no session id, token
 * id or request id that they could present; lookups need only the hash. Random ids need no more;
 * guessable ones (account names, client addresses) are keyed with an HMAC and a secret, or a
 * dictionary of names would reverse them.
 */
export function hashedKey(prefix: string, kind: string, id: string, secret?: Buffer): string {
  const digest =
    secret === undefined
      ? createHash('sha256').update(id).digest('base64url')
      : createHmac('sha256', secret).update(id).digest('base64url');
  return `${prefix}${kind}:${digest}`;
}
