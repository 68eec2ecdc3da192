export { KafkaBackend, type KafkaBackendOptions } from './kafka-backend.js';
export { KafkaTopics } from './topics.js';
