/** @type {import('jest').Config} */
module.exports = { ...require('../../jest.base.js'), displayName: '@x/grpc-keepalive', rootDir: __dirname };
