/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/grpc-gateway', rootDir: __dirname };
