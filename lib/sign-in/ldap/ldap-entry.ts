import type { Entry } from 'ldapts';

/** The first value of an attribute as text, or undefined (attribute names are case-insensitive). */
export function firstValue(entry: Entry, attribute: string): string | undefined {
  return allValues(entry, attribute)[0];
}

/** Every value of an attribute as text. Binary values are skipped; see {@link guidOf}. */
export function allValues(entry: Entry, attribute: string): string[] {
  const value = valueOf(entry, attribute);
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((item): item is string => typeof item === 'string' && item.length > 0);
}

/**
 * Active Directory's `objectGUID` (16 bytes, the first three groups little-endian) as the usual
 * text form, `f81d4fae-7dec-11d0-a765-00a0c91e6bf6`: stable across renames and moves, so it keys
 * the identity where a DN or a username would change.
 */
export function guidOf(entry: Entry, attribute: string): string | undefined {
  const value = valueOf(entry, attribute);
  const bytes = Array.isArray(value) ? value[0] : value;
  if (!Buffer.isBuffer(bytes) || bytes.length !== 16) return undefined;
  const hex = (indexes: number[]): string =>
    indexes.map((index) => (bytes[index] ?? 0).toString(16).padStart(2, '0')).join('');
  return [
    hex([3, 2, 1, 0]),
    hex([5, 4]),
    hex([7, 6]),
    hex([8, 9]),
    hex([10, 11, 12, 13, 14, 15]),
  ].join('-');
}

/**
 * The entry's stable id as text: `objectGUID` (see {@link guidOf}) or `entryUUID`, as named by
 * `attribute`; undefined when the search account may not read it.
 */
export function stableId(entry: Entry, attribute: string): string | undefined {
  return guidOf(entry, attribute) ?? firstValue(entry, attribute);
}

/**
 * The key the sign-in throttle counts an entry's failures under: its stable id, or its DN when
 * the id cannot be read. The directory's lockout counts the entry, whatever name found it.
 */
export function accountKey(entry: Entry, idAttribute: string): string {
  return stableId(entry, idAttribute)?.toLowerCase() ?? comparableDn(entry.dn);
}

function valueOf(entry: Entry, attribute: string): Entry[string] | undefined {
  if (Object.hasOwn(entry, attribute)) return entry[attribute];
  const lower = attribute.toLowerCase();
  const key = Object.keys(entry).find((name) => name.toLowerCase() === lower);
  return key === undefined ? undefined : entry[key];
}

/**
 * A DN in a comparable form: lower case, no spaces around separators. Enough to compare DNs the
 * directory returned with DNs an administrator typed; not a full RFC 4514 canonicalisation.
 */
export function comparableDn(dn: string): string {
  return dn
    .trim()
    .replace(/\s*([,=+])\s*/g, '$1')
    .toLowerCase();
}

/** The value of a DN's first RDN, unescaped (RFC 4514 §2.4): `CN=Sales\, EMEA,OU=x` → `Sales, EMEA`. */
export function firstRdnValue(dn: string): string {
  // Escaped bytes (`\c3\a9`) may be parts of one UTF-8 character, so bytes are collected first.
  const bytes: number[] = [];
  const start = dn.indexOf('=') + 1;
  for (let index = start; index > 0 && index < dn.length; index++) {
    const char = dn[index] as string;
    if (char === '\\') {
      const pair = dn.slice(index + 1, index + 3);
      if (/^[0-9a-fA-F]{2}$/.test(pair)) {
        bytes.push(Number.parseInt(pair, 16));
        index += 2;
      } else {
        bytes.push(...Buffer.from(dn[index + 1] ?? '', 'utf8'));
        index += 1;
      }
      continue;
    }
    if (char === ',' || char === '+') break;
    bytes.push(...Buffer.from(char, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8').trim();
}

/**
 * Escapes text for use as an attribute value in a DN (RFC 4514 §2.4). Written here because
 * ldapts's `DN` quotes values in the older RFC 1779 style, which RFC 4514 parsers need not
 * accept; a value must not be able to end its RDN and start another (`alice,ou=Admins`).
 */
export function escapeDnValue(value: string): string {
  return (
    value
      // eslint-disable-next-line no-control-regex
      .replace(/[\\"+,;<>=\u0000-\u001f\u007f]/g, (char) =>
        /[\\"+,;<>=]/.test(char)
          ? `\\${char}`
          : `\\${char.charCodeAt(0).toString(16).padStart(2, '0')}`,
      )
      .replace(/^([ #])/, '\\$1')
      .replace(/ $/, '\\ ')
  );
}
