import type { z } from 'zod';
import { createIdentity, type Identity } from './identity.js';
import { lazySchema } from './lazy-zod.js';
import { parseOptions } from './options.js';

const identityInputSchema = lazySchema((z) => {
  const name = z.string().min(1).max(1_024);
  const names = z.array(name).max(10_000);
  return z.strictObject({
    /** The stable id of the person at `issuer` (a directory GUID, a database key). Required. */
    subject: name,
    /** Who vouches for the person: your user store's URL or name. Required. */
    issuer: name,
    /** The sign-in method, as audit events name it (`passkey`, `radius`). Required. */
    provider: z
      .string()
      .regex(/^[a-z0-9-]{1,32}$/, 'must be 1 to 32 lower-case letters, digits or dashes'),
    /** The name the person signs in with. Required. */
    username: name,
    email: name.optional(),
    name: name.optional(),
    /** Default: `user`. A shared or application account is `service`, and AI routes refuse it. */
    kind: z.enum(['user', 'service']).optional(),
    /** Which rule made the account a service account; required with `kind: 'service'`. */
    serviceAccountRule: name.optional(),
    /** Default: none. Group names as your user store holds them. */
    groups: names.optional(),
    /** Default: true. False when the group list may be partial: group checks then refuse. */
    groupsComplete: z.boolean().optional(),
    /** Default: none. Roles the person holds (map groups to roles before passing them). */
    roles: names.optional(),
    /** Default: none. Other facts for row filters and policies; copied, then frozen. */
    attributes: z.record(z.string(), z.unknown()).optional(),
  });
});

/** What {@link buildIdentity} takes: the person behind a custom sign-in method. */
export type IdentityFields = z.input<ReturnType<typeof identityInputSchema>>;

/**
 * Builds the frozen {@link Identity} of a person signed in by a method of your own (a
 * `PasswordAuthenticator` over a database, a passkey service), checked like every other option:
 * a missing subject, issuer or username, or a `service` kind without its rule, is a `TypeError`
 * naming the field. The identity carries no credential: a session is minted for it by
 * `createSessionTokens()`, as for directory users.
 *
 * @example
 * ```ts
 * const identity = buildIdentity({
 *   subject: row.id, issuer: 'https://assistant.example.com/users', provider: 'database',
 *   username: row.login, email: row.email, groups: row.groups,
 * });
 * ```
 */
export function buildIdentity(fields: IdentityFields): Identity {
  const parsed = parseOptions(identityInputSchema(), fields, 'buildIdentity');
  const kind = parsed.kind ?? 'user';
  if (kind === 'service' && parsed.serviceAccountRule === undefined) {
    throw new TypeError(
      'buildIdentity: option "serviceAccountRule" is required with kind "service": name the rule that made it one',
    );
  }
  let attributes: Record<string, unknown>;
  try {
    attributes = structuredClone(parsed.attributes ?? {});
  } catch (cause) {
    throw new TypeError(
      'buildIdentity: option "attributes" must hold plain data (strings, numbers, lists, objects)',
      { cause },
    );
  }
  return createIdentity({
    subject: parsed.subject,
    issuer: parsed.issuer,
    provider: parsed.provider,
    kind,
    ...(parsed.serviceAccountRule === undefined
      ? {}
      : { serviceAccountRule: parsed.serviceAccountRule }),
    username: parsed.username,
    ...(parsed.email === undefined ? {} : { email: parsed.email }),
    ...(parsed.name === undefined ? {} : { name: parsed.name }),
    groups: parsed.groups ?? [],
    ...(parsed.groupsComplete === undefined ? {} : { groupsComplete: parsed.groupsComplete }),
    roles: parsed.roles ?? [],
    scopes: [],
    attributes,
  });
}
