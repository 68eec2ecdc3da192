/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/kafka-fast', rootDir: __dirname };
