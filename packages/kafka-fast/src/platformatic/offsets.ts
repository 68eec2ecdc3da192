import { type Connection, offsetFetchV9 } from '@platformatic/kafka';
import type { ClusterClient } from './coordinator.js';
import { asGroupRequestError } from './protocol-error.js';

export interface CommittedOffset {
  /** -1 when the group has committed nothing for the partition. */
  offset: bigint;
  metadata: string | null;
}

/**
 * What `groupId` committed for every partition of `topics` (OffsetFetch, asked of its coordinator), by topic and
 * partition. Stable offsets only: a commit still being written is waited for, not read half-done.
 */
export async function fetchCommitted(client: ClusterClient, coordinator: Connection, groupId: string, topics: string[]): Promise<Map<string, Map<number, CommittedOffset>>> {
  const metadata = await client.metadata({ topics });
  const request = topics.map((name) => ({ name, partitionIndexes: [...(metadata.topics.get(name)?.partitions.keys() ?? [])] }));
  let response: Awaited<ReturnType<typeof offsetFetchV9.api.async>>;
  try {
    response = await offsetFetchV9.api.async(coordinator, [{ groupId, memberId: null, memberEpoch: -1, topics: request }], true);
  } catch (error) {
    throw asGroupRequestError(error, 'OffsetFetch');
  }
  const result = new Map<string, Map<number, CommittedOffset>>();
  for (const topic of response.groups[0]?.topics ?? []) {
    const partitions = new Map<number, CommittedOffset>();
    for (const partition of topic.partitions) {
      partitions.set(partition.partitionIndex, { offset: partition.committedOffset, metadata: partition.metadata ? partition.metadata : null });
    }
    result.set(topic.name, partitions);
  }
  return result;
}
