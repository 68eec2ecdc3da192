/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/core', rootDir: __dirname };
