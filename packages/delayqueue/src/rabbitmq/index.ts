export { RabbitMqBackend, type RabbitMqBackendOptions } from './rabbitmq-backend.js';
export type { AmqpConnection } from './channels.js';
export { Topology, type QueueType } from './topology.js';
export { hasDelayedMessagePlugin } from './plugin.js';
