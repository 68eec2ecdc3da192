export {
  resolveClientParameters,
  resolveServerParameters,
  resolveEnforcementPolicy,
  clientChannelOptions,
  serverOptions,
  GO_DEFAULTS,
  type ClientParameters,
  type ServerParameters,
  type EnforcementPolicy,
  type Adjustment,
  type ResolvedClientParameters,
  type ResolvedServerParameters,
} from './parameters.js';
export {
  KeepaliveEnforcer,
  TOO_MANY_PINGS,
  MAX_IDLE,
  MAX_AGE,
  type CloseReason,
  type EnforcerEvent,
  type EnforcerStats,
  type KeepaliveEnforcerOptions,
} from './enforcer.js';
export { GrpcInternalsError, GrpcTimeoutFormatError } from './errors.js';
export { ignoredChannelOptions, GRPC_JS_OPTION_KEYS, type IgnoredOption } from './channel-options.js';
export { checkKeepaliveCompatibility, type KeepaliveVerdict } from './goaway-check.js';
export {
  withDefaultDeadline,
  deadlineIn,
  encodeGrpcTimeout,
  decodeGrpcTimeout,
  remainingMs,
  propagatedCallOptions,
  callSignal,
  type CallWithDeadline,
} from './deadlines.js';
export { httpStatusFromGrpcCode } from './http-status.js';
export { installDrainGuard } from './drain-guard.js';
// Errors its functions throw, so `instanceof` and `isXError` need no direct install of @x/core.
export { XError, isXError, InvalidArgumentError } from '@x/core';
