export { DelayQueue, type DelayQueueOptions, type DelayQueueEvents, type CloseOptions, type DeadLetterOptions, type JobPage, type ListOptions } from './queue.js';
export { Processor, DeliveryExpiredError, DeliveryLostError, type ProcessOptions } from './processor.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory/memory-backend.js';
export type { Job, JobInfo, JobState, JobHandler, AddOptions, RetryBackoff } from './job.js';
export { FULL_SUPPORT, type Backend, type BackendListener, type BackendSupport, type Delivery, type JobCounts, type ListPosition, type ListState, type BackendPage, type TopicLimits, type NewJob, type TopicWatch, type StoredSchedule, type ScheduleStep, type DueSchedules, tickJobId } from './backend.js';
export type { ScheduleRule } from './schedule-rule.js';
export type { ScheduleInfo, ScheduleOptions, MissedTicks } from './schedules.js';
export type { QueueMetrics } from './metrics.js';
export { MAX_DELAY_MS, MAX_NAME_LENGTH } from './new-job.js';
export { CorruptJobError, MoveFailedError, PartialWriteError, PayloadNotSerializableError, PayloadTooLargeError, TopicConfigError, UnroutableJobError, UnsupportedOperationError } from './errors.js';
// Errors its functions throw, so `instanceof` and `isXError` need no direct install of @x/core.
export { XError, isXError, InvalidArgumentError, ClosedError, TimeoutError, CloseTimeoutError } from '@x/core';
