/**
 * The admin of {@link platformaticClient}: committed offsets of a group (what the consumer needs) and topic
 * administration in kafkajs's shapes (what @x/delayqueue's Kafka backend needs), on one @platformatic/kafka
 * `Admin` made at `connect()`.
 */
import { Admin, type BaseOptions } from '@platformatic/kafka';
import type { ClientAdmin, TopicAdmin } from '../client.js';
import { NotConnectedError } from '../errors.js';
import { connectToCoordinator } from './coordinator.js';
import { fetchCommitted } from './offsets.js';
import { firstAnswer } from './first-answer.js';

/** kafkajs's ConfigResourceTypes.TOPIC, which is also Kafka's resource type number for a topic. */
const TOPIC_RESOURCE = 2;

export function platformaticAdmin(clientOptions: BaseOptions): ClientAdmin & TopicAdmin {
  let made: Admin | undefined;
  const admin = (): Admin => {
    if (made === undefined) throw new NotConnectedError();
    return made;
  };
  return {
    async connect() {
      made ??= new Admin(clientOptions);
      await firstAnswer(made, clientOptions).catch((error: unknown) => {
        made = undefined;
        throw error;
      });
    },
    async fetchOffsets({ groupId, topics }) {
      const committed = await fetchCommitted(admin(), await connectToCoordinator(admin(), groupId), groupId, topics);
      return topics.map((topic) => ({
        topic,
        partitions: [...(committed.get(topic) ?? [])].map(([partition, { offset, metadata }]) => ({ partition, offset: offset.toString(), metadata })),
      }));
    },
    listTopics: () => admin().listTopics(),
    async createTopics({ topics }) {
      // One request per topic: @platformatic/kafka applies one partition count and one config list to a request.
      const outcomes = await Promise.allSettled(
        topics.map(({ topic, numPartitions, replicationFactor, configEntries }) =>
          admin().createTopics({ topics: [topic], partitions: numPartitions ?? -1, replicas: replicationFactor ?? -1, configs: configEntries ?? [] }),
        ),
      );
      const refusals = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? refusalsOf(outcome.reason, topics[i]!.topic) : []));
      if (refusals.length > 0) throw new TopicsNotCreatedError(refusals, outcomes.find((o) => o.status === 'rejected')?.reason);
      return true;
    },
    deleteTopics: ({ topics }) => admin().deleteTopics({ topics }),
    deleteGroups: (groupIds) => admin().deleteGroups({ groups: groupIds }),
    async fetchTopicMetadata({ topics }) {
      const metadata = await admin().metadata({ topics, forceUpdate: true });
      return {
        topics: topics.map((name) => ({
          name,
          partitions: (metadata.topics.get(name)?.partitions ?? []).map((partition, partitionId) => ({ partitionId, leader: partition.leader })),
        })),
      };
    },
    async describeConfigs({ resources, includeSynonyms }) {
      const described = await admin().describeConfigs({
        includeSynonyms,
        resources: resources.map(({ type, name, configNames }) => {
          if (type !== TOPIC_RESOURCE) throw new RangeError(`only topic configs (type ${TOPIC_RESOURCE}) are described here, not type ${type}`);
          return { resourceType: TOPIC_RESOURCE, resourceName: name, configurationKeys: configNames ?? null };
        }),
      });
      return {
        resources: described.map(({ resourceName, configs }) => ({
          resourceName,
          configEntries: configs.map(({ name, value }) => ({ configName: name, configValue: value ?? '' })),
        })),
      };
    },
    async disconnect() {
      await made?.close();
    },
  };
}

/** A createTopics that was refused, with each refusal named as kafkajs names it (`errors: [{ type, topic }]`). */
export class TopicsNotCreatedError extends AggregateError {
  constructor(
    override readonly errors: { type: string; topic: string; message: string }[],
    cause: unknown,
  ) {
    super(errors, `topics not created: ${errors.map((e) => `${e.topic} (${e.type})`).join(', ')}`, { cause });
    this.name = 'TopicsNotCreatedError';
  }
}

/** Kafka's error names in a rejected createTopics of @platformatic/kafka (nested MultipleErrors of ProtocolErrors). */
function refusalsOf(error: unknown, topic: string): { type: string; topic: string; message: string }[] {
  const found: { type: string; topic: string; message: string }[] = [];
  const visit = (e: unknown): void => {
    const { apiId, errors, message } = (e ?? {}) as { apiId?: unknown; errors?: unknown; message?: unknown };
    if (typeof apiId === 'string') found.push({ type: apiId, topic, message: String(message) });
    if (Array.isArray(errors)) errors.forEach(visit);
  };
  visit(error);
  return found.length > 0 ? found : [{ type: 'UNKNOWN', topic, message: error instanceof Error ? error.message : String(error) }];
}
