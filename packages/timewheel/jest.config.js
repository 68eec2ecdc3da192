/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/timewheel', rootDir: __dirname };
