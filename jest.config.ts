import type { Config } from 'jest';

// The package and its dependencies (jose, express 5) are ES modules, so tests run as real
// ESM (node --experimental-vm-modules): nothing is transpiled to CommonJS or mocked away.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    // Examples import the package by name, as users will; in tests that name is the source.
    '^express-identity-passthrough$': '<rootDir>/lib/index.ts',
    '^express-identity-passthrough/core$': '<rootDir>/lib/core.ts',
    '^express-identity-passthrough/ldap$': '<rootDir>/lib/ldap.ts',
    '^express-identity-passthrough/saml$': '<rootDir>/lib/saml.ts',
    '^express-identity-passthrough/oidc$': '<rootDir>/lib/oidc.ts',
    '^express-identity-passthrough/mcp$': '<rootDir>/lib/mcp.ts',
    '^express-identity-passthrough/redis$': '<rootDir>/lib/redis.ts',
    '^express-identity-passthrough/postgres$': '<rootDir>/lib/postgres.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/support/jose-cjs.mjs',
  resolver: '<rootDir>/test/support/resolver.cjs',
  testTimeout: 20_000,
  // Suites start real servers on 127.0.0.1; two workers match the two cores CI has.
  maxWorkers: 2,
  // In ESM mode every test file loads its own copy of express, jose, oidc-provider and samlify,
  // and a worker lets go of the old copies only lazily (jestjs/jest#14605): after ~27 files a
  // worker held 350-520 MB of heap, and tearing that down took 0.3-1.2 s after its last line of
  // JavaScript, past Jest's 500 ms grace, so Jest reported a leak where no handle was open. A
  // worker above this heap size after a file is replaced; the last ones exit in under 100 ms.
  workerIdleMemoryLimit: '200MB',
};

export default config;
