/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/delayqueue', rootDir: __dirname };
