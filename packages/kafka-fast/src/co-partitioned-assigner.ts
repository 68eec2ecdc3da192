/**
 * A kafkajs partition assigner that gives a process the same partition numbers in every topic and in every
 * consumer group it belongs to. Applications that key their records the same way across topics (a record walking
 * several topics keeps its key, so the default partitioner puts it on the same partition number in each) then
 * have each key's whole path on one process: when that process dies, only its own keys wait for the group to
 * notice, not every key that happened to pass through one of its partitions of one topic.
 *
 * kafkajs's own round-robin assigner deals a group's partitions out one by one across all its topics, to members
 * sorted by member id: a process gets partition 0 of one topic and partition 1 of the next, and a different
 * place in every group (member ids are random per group). Here members are sorted by a key each process gives
 * (the same in all of its groups), and partition p of every topic goes to member p mod n.
 *
 * It speaks the classic group protocol's consumer metadata and assignment formats itself, so that this package
 * does not load kafkajs: the formats are Kafka's (ConsumerProtocolSubscription / ConsumerProtocolAssignment,
 * version 0), the ones kafkajs's own assigners write.
 */
import { assertString } from '@x/core';

/** The name members advertise; every member of a group must offer it for it to be chosen. */
export const CO_PARTITIONED_ASSIGNER_NAME = 'XCoPartitionedAssigner';

/** What kafkajs gives an assigner factory (the part used here). */
export interface AssignerContext {
  cluster: { findTopicPartitionMetadata(topic: string): { partitionId: number }[] };
}

/** A kafkajs assigner, as `consumerConfig.partitionAssigners` takes it (structurally: no kafkajs types needed). */
export type CoPartitionedAssigner = (context: AssignerContext) => {
  name: string;
  version: number;
  protocol(subscription: { topics: string[] }): { name: string; metadata: Buffer };
  assign(group: { members: { memberId: string; memberMetadata: Buffer }[]; topics: string[] }): Promise<{ memberId: string; memberAssignment: Buffer }[]>;
};

const VERSION = 0;
/** The longest process key, in characters: it travels in every join request of every group. */
const MAX_KEY_LENGTH = 256;

/**
 * The assigner for one process: `processKey` orders this process among the members of each group, so give every
 * consumer of the process the same key, and each process its own (a random token made at start is enough).
 * Members whose keys are equal are ordered by member id.
 */
export function coPartitionedAssigner(processKey: string): CoPartitionedAssigner {
  const userData = Buffer.from(assertString('processKey', processKey, MAX_KEY_LENGTH));
  return ({ cluster }) => ({
    name: CO_PARTITIONED_ASSIGNER_NAME,
    version: VERSION,
    protocol: ({ topics }) => ({ name: CO_PARTITIONED_ASSIGNER_NAME, metadata: encodeSubscription(topics, userData) }),
    assign: async ({ members, topics }) => {
      const ordered = members
        .map(({ memberId, memberMetadata }) => ({ memberId, key: decodeSubscriptionUserData(memberMetadata) }))
        .sort((a, b) => Buffer.compare(a.key, b.key) || (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
      const assignment = new Map<string, Map<string, number[]>>(ordered.map(({ memberId }) => [memberId, new Map()]));
      for (const topic of topics) {
        const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
        for (const partition of partitions) {
          const owner = assignment.get(ordered[partition % ordered.length]!.memberId)!;
          let owned = owner.get(topic);
          if (owned === undefined) owner.set(topic, (owned = []));
          owned.push(partition);
        }
      }
      return [...assignment].map(([memberId, byTopic]) => ({ memberId, memberAssignment: encodeAssignment(byTopic) }));
    },
  });
}

/** ConsumerProtocolSubscription v0: version, topics, user data. */
function encodeSubscription(topics: string[], userData: Buffer): Buffer {
  const writer = new Writer();
  writer.int16(VERSION);
  writer.int32(topics.length);
  for (const topic of topics) writer.string(topic);
  writer.bytes(userData);
  return writer.done();
}

/**
 * The user data of a member's subscription: its process key (empty for a member whose metadata has none, such as
 * one of another version of this assigner; it then sorts first, by member id).
 */
function decodeSubscriptionUserData(metadata: Buffer): Buffer {
  let at = 2;
  const topics = metadata.readInt32BE(at);
  at += 4;
  for (let i = 0; i < topics; i++) at += 2 + metadata.readInt16BE(at);
  if (at + 4 > metadata.length) return Buffer.alloc(0);
  const length = metadata.readInt32BE(at);
  return length <= 0 ? Buffer.alloc(0) : metadata.subarray(at + 4, at + 4 + length);
}

/** ConsumerProtocolAssignment v0: version, partitions by topic, user data (none). */
function encodeAssignment(byTopic: Map<string, number[]>): Buffer {
  const writer = new Writer();
  writer.int16(VERSION);
  writer.int32(byTopic.size);
  for (const [topic, partitions] of byTopic) {
    writer.string(topic);
    writer.int32(partitions.length);
    for (const partition of partitions) writer.int32(partition);
  }
  writer.bytes(Buffer.alloc(0));
  return writer.done();
}

/** Kafka's big-endian primitives, as the two formats above use them. */
class Writer {
  private readonly parts: Buffer[] = [];

  int16(value: number): void {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.parts.push(b);
  }

  int32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.parts.push(b);
  }

  string(value: string): void {
    const bytes = Buffer.from(value);
    this.int16(bytes.length);
    this.parts.push(bytes);
  }

  bytes(value: Buffer): void {
    this.int32(value.length);
    this.parts.push(value);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}
