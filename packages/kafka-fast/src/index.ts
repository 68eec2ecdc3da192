/// <reference types="node" preserve="true" />
// The types below use Node's globals (Buffer, AbortSignal, AsyncDisposable): said here, so a project that does
// not load every @types package by itself (TypeScript 7 does not) still finds them.
export {
  ParallelConsumer,
  type ParallelConsumerEvents,
  type ConsumerMetrics,
  type PartitionMetrics,
} from './parallel-consumer.js';
export { type ParallelConsumerOptions, type Ordering, MIN_METADATA_LIMIT, assertConsumerConfig } from './options.js';
export type { ConsumedRecord, HandlerContext, RecordHandler, BatchHandler } from './record.js';
export { AlreadyStartedError, BrokerUnreachableError, CallbackError, ConsumerCrashedError, MetadataTooLargeError, ConsumerProtocolUnsupportedError, NotConnectedError, PartitionRevokedError, UnknownTopicError, WorkerExitedError } from './errors.js';
export { decodeOffsetMap, OffsetMapFormatError, type OffsetMap } from './offset-map.js';
export type {
  KafkaClient,
  KafkaClientWithTopics,
  ClientConsumer,
  ClientAdmin,
  ClientProducer,
  ClientBatchPayload,
  ClientMessage,
  RecordHeaders,
  ClientEvent,
  RevocationListener,
  TopicAdmin,
  BatchProducer,
  BatchMessage,
} from './client.js';
export { workerThreadClient, type WorkerThreadClient } from './worker-client.js';
export { confluentClient, type ConfluentKafkaLike, type ConfluentConsumerLike, type ConfluentProducerLike } from './confluent-client.js';
// Errors its functions throw, so `instanceof` and `isXError` need no direct install of @x/core.
export { XError, isXError, InvalidArgumentError, ClosedError, CloseTimeoutError } from '@x/core';
export { coPartitionedAssigner, CO_PARTITIONED_ASSIGNER_NAME, type CoPartitionedAssigner, type AssignerContext } from './co-partitioned-assigner.js';
