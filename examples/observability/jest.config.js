/** @type {import('jest').Config} */
const base = require('../../jest.base.js');
module.exports = {
  ...base,
  displayName: '@x/example-observability',
  rootDir: __dirname,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json', diagnostics: false }] },
};
