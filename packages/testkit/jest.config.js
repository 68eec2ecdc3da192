/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/testkit', rootDir: __dirname };
