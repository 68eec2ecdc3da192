// Runs every package's tests in one jest process tree, so `npm test` prints one summary.
/** @type {import('jest').Config} */
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.js', '<rootDir>/examples/*/jest.config.js'],
  // A global option (projects cannot set it): tests that start servers or wait out TTLs need more than 5 s.
  testTimeout: 30_000,
};
