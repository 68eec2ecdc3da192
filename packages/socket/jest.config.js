/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/socket', rootDir: __dirname };
