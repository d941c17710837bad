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
};

export default config;
