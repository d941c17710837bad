import { createHash } from 'node:crypto';

/**
 * The key of an entry: the prefix, the kind, and a SHA-256 of the id. Ids are hashed because
 * whoever reads Redis (a dump, a replica, a debugging session) must learn no session id, token
 * id or request id that they could present; lookups need only the hash.
 */
export function hashedKey(prefix: string, kind: string, id: string): string {
  return `${prefix}${kind}:${createHash('sha256').update(id).digest('base64url')}`;
}
