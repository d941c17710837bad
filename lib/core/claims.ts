/** A verified token's payload, or any other bag of identity claims. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Reads a claim by path. A claim whose whole name exists is used as it is, because namespaced
 * claims are URLs full of dots (`https://example.com/roles`); otherwise the path is split on
 * dots to reach nested claims (`realm_access.roles`).
 */
export function readClaim(claims: Claims, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let node: unknown = claims;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** The first non-empty string among the paths, or undefined. */
export function readString(claims: Claims, paths: readonly string[]): string | undefined {
  for (const path of paths) {
    const value = readClaim(claims, path);
    if (typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/**
 * Every string found under the paths, in order and without repeats. A string value is split
 * on spaces, as the OAuth `scope` claim is (RFC 8693 §4.2); an array contributes its strings.
 */
export function readStringList(claims: Claims, paths: readonly string[]): string[] {
  const found = new Set<string>();
  for (const path of paths) {
    const value = readClaim(claims, path);
    const items = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const item of items) {
      if (typeof item === 'string' && item.length > 0) found.add(item);
    }
  }
  return [...found];
}
