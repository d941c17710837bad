// The tests use the same real local issuer as the demo (examples/local-issuer.ts).
export {
  b64urlJson as b64url,
  createLocalIssuer as createTestIssuer,
  LOCAL_AUDIENCE as TEST_AUDIENCE,
  type Claims,
  type LocalIssuer as TestIssuer,
} from '../../examples/local-issuer.js';
