export { HashedWheel, type HashedWheelOptions } from './hashed-wheel.js';
export { HierarchicalWheel, type HierarchicalWheelOptions } from './hierarchical-wheel.js';
export { TimerWheel, MAX_PENDING, type TimerWheelOptions, type TimerWheelStats } from './wheel.js';
export { Timer, type TimerId } from './timer.js';
export { TooManyTimersError } from './errors.js';
