/// <reference types="node" preserve="true" />
/**
 * `@x/delayqueue/platformatic`: a Kafka client on @platformatic/kafka (an optional peer dependency) for
 * `KafkaBackend`'s `kafka` option, with consumers in Kafka 4's consumer group protocol: a consumer joining or
 * leaving moves only the partitions it must, and the jobs of the others run on. It is `@x/kafka-fast`'s
 * `platformaticClient`, re-exported so that this package is all a user installs (with @platformatic/kafka).
 * Loaded only by those who import this entry point.
 *
 * @example
 * ```ts
 * import { DelayQueue } from '@x/delayqueue';
 * import { KafkaBackend } from '@x/delayqueue/kafka';
 * import { platformaticClient } from '@x/delayqueue/platformatic';
 *
 * const kafka = platformaticClient({ bootstrapBrokers: ['127.0.0.1:9092'] });
 * const queue = new DelayQueue({ backend: new KafkaBackend({ kafka, name: 'billing' }) });
 * ```
 */
export { platformaticClient, type PlatformaticClientOptions, ConsumerProtocolUnsupportedError, TopicsNotCreatedError } from '@x/kafka-fast/platformatic';
