import { inspect } from 'node:util';
import {
  createIdentity,
  credentialOf,
  identityMemo,
  rememberForIdentity,
} from '../../lib/core/identity.js';

// The credential travels with the identity without being reachable from it: not as a
// property, not through serialization, and not through anything the identity leads to.
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';

function identity() {
  return createIdentity(
    {
      subject: 'u-1',
      issuer: 'https://issuer.example/',
      provider: 'jwt',
      kind: 'user',
      username: 'alice',
      groups: ['g'],
      roles: [],
      scopes: [],
      attributes: { region: { name: 'eu' } },
    },
    { type: 'bearer', value: TOKEN, audience: ['api://orders'] },
  );
}

test('the package reads the credential back; the identity is a frozen plain object', () => {
  const alice = identity();
  expect(credentialOf(alice)?.value).toBe(TOKEN);
  expect(Object.getPrototypeOf(alice)).toBe(Object.prototype);
  expect(alice.constructor).toBe(Object);
  expect(Object.isFrozen(alice)).toBe(true);
  expect(Object.isFrozen(alice.attributes['region'])).toBe(true);
});

test('no serialization, copy or reflection of the identity carries the token', () => {
  const alice = identity();
  const views = [
    JSON.stringify(alice),
    inspect(alice, { showHidden: true, depth: 10 }),
    JSON.stringify({ ...alice }),
    JSON.stringify(structuredClone(alice)),
    String(Reflect.ownKeys(alice)),
    String(Object.getOwnPropertySymbols(alice)),
  ];
  for (const view of views) expect(view).not.toContain('c2lnbmF0dXJl');
  // Copies are not identities: they carry no credential.
  expect(credentialOf({ ...alice })).toBeUndefined();
  expect(credentialOf(structuredClone(alice))).toBeUndefined();
});

test('the memo is kept per identity and cannot be set on a copy', () => {
  const alice = identity();
  expect(identityMemo(alice)).toBeUndefined();
  rememberForIdentity(alice, 'cleaned');
  expect(identityMemo(alice)).toBe('cleaned');
  const copy = { ...alice };
  rememberForIdentity(copy, 'forged');
  expect(identityMemo(copy)).toBeUndefined();
  expect(identityMemo(identity())).toBeUndefined();
});
