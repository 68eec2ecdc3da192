/// <reference types="node" preserve="true" />
// The types below use Node's globals (IncomingMessage, ServerResponse): said here, so a project that does not load
// every @types package by itself (TypeScript 7 does not) still finds them.
export { createGateway, type GatewayOptions, type GatewayServeOptions, type GatewayUpstream, type GatewayHandler } from './gateway.js';
export type { OpenApiInfo } from './openapi.js';
export { googleApiProtos } from './google-api-protos.js';
export { HttpRuleError, RouteConflictError } from './errors.js';
export { JsonMappingError } from './json-codec.js';
export { XError, isXError, InvalidArgumentError } from '@x/core';
