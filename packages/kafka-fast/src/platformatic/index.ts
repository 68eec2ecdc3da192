/// <reference types="node" preserve="true" />
/**
 * `@x/kafka-fast/platformatic`: a {@link KafkaClient} on @platformatic/kafka (an optional peer dependency), with
 * consumers in Kafka 4's consumer group protocol (KIP-848). Loaded only by those who import this entry point.
 */
import type { BaseOptions } from '@platformatic/kafka';
import type { KafkaClientWithTopics } from '../client.js';
import { platformaticAdmin } from './admin.js';
import { checkClientOptions } from './client-options.js';
import { GroupConsumer } from './consumer.js';
import { consumerSettings } from './consumer-settings.js';
import { platformaticProducer } from './producer.js';

export { ConsumerProtocolUnsupportedError } from '../errors.js';
export { TopicsNotCreatedError } from './admin.js';

/** How to reach the cluster: @platformatic/kafka's client options (`bootstrapBrokers`, `tls`, `sasl`, ...). */
export type PlatformaticClientOptions = Omit<BaseOptions, 'clientId'> & { clientId?: string };

/**
 * A client for {@link ParallelConsumer} (and for @x/delayqueue's `KafkaBackend`) on @platformatic/kafka. Its consumers join their group with Kafka 4's
 * consumer protocol (`group.protocol=consumer`, Kafka 4.0 or later): a member joining or leaving moves only the
 * partitions it must, records of the others keep running, and a partition taken away is handed over only after
 * its running records finished (up to `rebalanceDrainMs`) and were committed.
 *
 * Of `consumerConfig` it reads `rebalanceTimeout` (default 60,000 ms: how long the group waits for a partition to
 * be given up), `maxWaitTimeInMs`, `minBytes`, `maxBytes`, `maxBytesPerPartition` and `readUncommitted`; the
 * session timeout and heartbeat interval are the broker's settings in this protocol
 * (`group.consumer.session.timeout.ms`, `group.consumer.heartbeat.interval.ms`). Two more are this protocol's:
 * `serverAssignor` (`'uniform'` or `'range'`; the broker's first by default, `uniform`) and `memberIdPrefix`
 * (member ids are the prefix, `+` and a UUID). The broker's `range` assignor orders members by id and gives each
 * the same partition numbers of every topic with the same partition count; with one prefix per process in
 * several groups, a process owns the same partition numbers in each of them.
 *
 * @example
 * ```ts
 * import { ParallelConsumer } from '@x/kafka-fast';
 * import { platformaticClient } from '@x/kafka-fast/platformatic';
 *
 * const consumer = new ParallelConsumer({
 *   kafka: platformaticClient({ bootstrapBrokers: ['127.0.0.1:9092'] }),
 *   groupId: 'billing',
 *   topics: ['orders'],
 *   handler: async (record) => console.log(record.value?.toString()),
 * });
 * ```
 */
export function platformaticClient(options: PlatformaticClientOptions): KafkaClientWithTopics {
  checkClientOptions(options);
  const clientOptions: BaseOptions = { ...options, clientId: options.clientId ?? 'x-kafka-fast' };
  return {
    adapter: 'platformatic',
    consumer: (config) => new GroupConsumer(clientOptions, consumerSettings(config)),
    admin: () => platformaticAdmin(clientOptions),
    producer: (config) => platformaticProducer(clientOptions, config),
  };
}
