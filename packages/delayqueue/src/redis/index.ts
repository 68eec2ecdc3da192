export { RedisBackend, type RedisBackendOptions } from './redis-backend.js';
export type { RedisClient } from './script-runner.js';
