/** Jest runs the TypeScript sources through swc; type checking is `npm run typecheck`. */
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
};

module.exports = {
  testEnvironment: 'node',
  transform,
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
  // Integration tests start real processes; two workers match this machine's two cores. The chaos
  // test (test/chaos/) starts a whole cluster and runs on its own after the rest (`npm test`).
  maxWorkers: 2,
  detectOpenHandles: false,
};
