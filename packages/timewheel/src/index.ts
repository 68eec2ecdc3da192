export { HashedWheel, type HashedWheelOptions } from './hashed-wheel.js';
export { HierarchicalWheel, type HierarchicalWheelOptions } from './hierarchical-wheel.js';
export { TimerWheel, MAX_PENDING, type TimerWheelOptions, type TimerWheelStats } from './wheel.js';
export { Timer, type TimerId } from './timer.js';
export { TooManyTimersError } from './errors.js';
// Errors its functions throw, and the clock it takes, so a user needs no direct install of @x/core.
export { XError, isXError, InvalidArgumentError, ClosedError, ManualClock, systemClock, type Clock } from '@x/core';
