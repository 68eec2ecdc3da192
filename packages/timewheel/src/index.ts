export { HashedWheel, type HashedWheelOptions } from './hashed-wheel.js';
export { HierarchicalWheel, type HierarchicalWheelOptions } from './hierarchical-wheel.js';
export { TimerWheel, type TimerWheelOptions, type TimerWheelStats } from './wheel.js';
export { Timer } from './timer.js';
export { TooManyTimersError } from './errors.js';
