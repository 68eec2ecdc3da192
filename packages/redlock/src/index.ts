export { Redlock, type RedlockOptions, type AcquireOptions } from './redlock.js';
export { Lock, type ReleaseResult } from './lock.js';
export {
  LockHeldError,
  QuorumError,
  LockNotAcquiredError,
  LockLostError,
  type InstanceFailure,
  type InstanceFailureReason,
} from './errors.js';
export type { RedisClient } from './instance.js';
// Errors its functions throw, so `instanceof` and `isXError` need no direct install of @x/core.
export { XError, isXError, InvalidArgumentError, ClosedError, TimeoutError } from '@x/core';
