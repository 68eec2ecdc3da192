// Runs every package's tests in one jest process tree, so `npm test` prints one summary.
/** @type {import('jest').Config} */
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.js'],
};
