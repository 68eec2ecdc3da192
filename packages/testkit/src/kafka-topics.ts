import type { Admin, ITopicConfig } from 'kafkajs';
import { eventually } from './eventually.js';

/**
 * Creates topics and resolves once every partition has a leader. Not kafkajs's `waitForLeaders`: on Kafka 4
 * its metadata wait throws UNKNOWN_TOPIC_OR_PARTITION when asked a moment too early (it only retries
 * LEADER_NOT_AVAILABLE), which failed a test run now and then. Here every answer short of "all led" is asked again.
 */
export async function createKafkaTopics(admin: Admin, topics: ITopicConfig[], timeoutMs = 30_000): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  const names = topics.map((t) => t.topic);
  await eventually(
    () =>
      admin.fetchTopicMetadata({ topics: names }).then(
        (metadata) => metadata.topics.length === names.length && metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
        () => false,
      ),
    `leaders for topics ${names.join(', ')}`,
    timeoutMs,
    50,
  );
}
