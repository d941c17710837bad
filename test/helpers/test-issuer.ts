// The tests use the same real local issuer as the demo (examples/local-issuer.ts).
import { createLocalIssuer, type LocalIssuer } from '../../examples/local-issuer.js';
import { closeServers } from './http.js';

export {
  b64urlJson as b64url,
  createLocalIssuer as createTestIssuer,
  LOCAL_AUDIENCE as TEST_AUDIENCE,
  type Claims,
  type LocalIssuer as TestIssuer,
} from '../../examples/local-issuer.js';

/**
 * A test issuer for the enclosing file or describe block: created before its tests, closed (with
 * every server `serve` started) after them. The returned object forwards to the live issuer.
 */
export function useTestIssuer(options: Parameters<typeof createLocalIssuer>[0] = {}): LocalIssuer {
  let issuer: LocalIssuer | undefined;
  beforeAll(async () => {
    issuer = await createLocalIssuer(options);
  });
  afterAll(async () => {
    await closeServers();
    await issuer?.close();
  });
  return new Proxy({} as LocalIssuer, {
    get(_target, property) {
      if (issuer === undefined)
        throw new Error('useTestIssuer: the issuer exists only inside tests');
      const value: unknown = Reflect.get(issuer, property);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(issuer)
        : value;
    },
  });
}
