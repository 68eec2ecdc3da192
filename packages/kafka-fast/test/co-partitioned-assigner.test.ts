/**
 * The co-partitioned assigner: its wire formats read and written by kafkajs's own protocol code, and real groups
 * on the broker giving each process the same partition numbers in every topic and every group.
 */
import { AssignerProtocol, PartitionAssigners } from 'kafkajs';
import { requireKafka, uniqueName } from '@x/testkit';
import { CO_PARTITIONED_ASSIGNER_NAME, ParallelConsumer, coPartitionedAssigner, isXError } from '../src/index.js';
import { eventually, freshTopic, kafka } from './kafka.js';

/** A cluster that knows `partitions` partitions of every topic. */
const cluster = (partitions: number) => ({ findTopicPartitionMetadata: () => Array.from({ length: partitions }, (_, partitionId) => ({ partitionId })) });

/** What each member was given, decoded by kafkajs. */
function decoded(assignments: { memberId: string; memberAssignment: Buffer }[]): Record<string, Record<string, number[]>> {
  return Object.fromEntries(assignments.map(({ memberId, memberAssignment }) => [memberId, AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment]));
}

describe('coPartitionedAssigner', () => {
  it("writes metadata kafkajs reads (topics and the process key) and reads kafkajs's own", () => {
    const assigner = coPartitionedAssigner('process-b')({ cluster: cluster(1) });
    const { name, metadata } = assigner.protocol({ topics: ['t1', 'tópico-2'] });
    expect(name).toBe(CO_PARTITIONED_ASSIGNER_NAME);
    const read = AssignerProtocol.MemberMetadata.decode(metadata)!;
    expect({ version: read.version, topics: read.topics, userData: read.userData.toString() }).toEqual({ version: 0, topics: ['t1', 'tópico-2'], userData: 'process-b' });
  });

  it('gives partition p of every topic to the member at p mod n, members ordered by process key whatever their ids', async () => {
    const member = (memberId: string, key: string) => ({ memberId, memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['a', 'b'], userData: Buffer.from(key) }) });
    const assigner = coPartitionedAssigner('any')({ cluster: cluster(5) });
    const members = [member('m-zz', 'p1'), member('m-aa', 'p3'), member('m-mm', 'p2')];
    expect(decoded(await assigner.assign({ members, topics: ['a', 'b'] }))).toEqual({
      'm-zz': { a: [0, 3], b: [0, 3] },
      'm-mm': { a: [1, 4], b: [1, 4] },
      'm-aa': { a: [2], b: [2] },
    });
    // A member whose metadata carries no key (written by kafkajs without user data) sorts first, by member id.
    const plain = { memberId: 'm-plain', memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['a'] } as never) };
    expect(decoded(await assigner.assign({ members: [member('m-0', 'p1'), plain], topics: ['a'] }))).toEqual({ 'm-plain': { a: [0, 2, 4] }, 'm-0': { a: [1, 3] } });
  });

  it.each([[''], ['\ud800'], ['x'.repeat(257)], [42], [undefined]])('refuses %p as a process key with a typed error', (key) => {
    let thrown: unknown;
    try {
      coPartitionedAssigner(key as string);
    } catch (error) {
      thrown = error;
    }
    expect(isXError(thrown) && thrown.code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('on the broker: each process owns the same partition numbers of both topics in both of its groups', async () => {
    await (await requireKafka()).disconnect();
    const [first, second] = [await freshTopic(4), await freshTopic(4)];
    const owned = new Map<string, Record<string, number[]>>();
    const consumers: ParallelConsumer[] = [];
    try {
      // Two processes (keys p-a, p-b), each a member of two groups; joined in an order that differs between the
      // groups, so that neither join order nor member ids decide.
      const groups = [uniqueName('g-one'), uniqueName('g-two')];
      const joins = [
        [groups[0]!, 'p-a'],
        [groups[0]!, 'p-b'],
        [groups[1]!, 'p-b'],
        [groups[1]!, 'p-a'],
      ] as const;
      for (const [groupId, key] of joins) {
        const consumer = new ParallelConsumer({
          kafka,
          groupId,
          topics: [first, second],
          handler: () => undefined,
          consumerConfig: { partitionAssigners: [coPartitionedAssigner(key)], heartbeatInterval: 300 },
        });
        consumer.on('assigned', ({ partitions }) => {
          const byTopic: Record<string, number[]> = {};
          for (const { topic, partition } of partitions) (byTopic[topic === first ? 'first' : 'second'] ??= []).push(partition);
          for (const list of Object.values(byTopic)) list.sort();
          owned.set(`${groupId === groups[0] ? 'one' : 'two'} ${key}`, byTopic);
        });
        consumers.push(consumer);
        await consumer.start();
      }
      const settled = { first: [0, 2], second: [0, 2] };
      const other = { first: [1, 3], second: [1, 3] };
      await eventually(() => JSON.stringify(Object.fromEntries([...owned].sort())) === JSON.stringify({ 'one p-a': settled, 'one p-b': other, 'two p-a': settled, 'two p-b': other }), 'both groups co-partitioned');
    } finally {
      await Promise.all(consumers.map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
    }
  }, 90_000);

  it('a member without it in a group using it: the group refuses it, and it says so (ConsumerCrashedError) and closes', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g-mixed');
    const consumers: ParallelConsumer[] = [];
    try {
      const withIt = new ParallelConsumer({ kafka, groupId, topics: [topic], handler: () => undefined, consumerConfig: { partitionAssigners: [coPartitionedAssigner('p-a')] } });
      consumers.push(withIt);
      await withIt.start();
      const without = new ParallelConsumer({ kafka, groupId, topics: [topic], handler: () => undefined });
      consumers.push(without);
      const errors: unknown[] = [];
      without.on('error', (error) => errors.push(error));
      await without.start().catch((error: unknown) => errors.push(error));
      // kafkajs reports the refusal as a crash of its first join and resolves run() all the same: before, start()
      // resolved and the member sat idle, saying nothing.
      await eventually(() => errors.length > 0, 'the refusal reported', 30_000);
      expect(errors[0]).toMatchObject({ code: 'ERR_CONSUMER_CRASHED' });
      expect(String((errors[0] as { cause?: unknown }).cause)).toMatch(/protocol/i);
    } finally {
      await Promise.all(consumers.map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
    }
  }, 60_000);

  it("beside kafkajs's round robin in the same setting, which does not co-partition (the reason for this assigner)", async () => {
    // The same two members and two 3-partition topics: round robin deals partitions across both topics in turn.
    const member = (memberId: string) => ({ memberId, memberMetadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['a', 'b'] } as never) });
    const roundRobin = PartitionAssigners.roundRobin({ cluster: cluster(3) } as never);
    const dealt = decoded(await roundRobin.assign({ members: [member('m-1'), member('m-2')], topics: ['a', 'b'] }));
    expect(dealt['m-1']).not.toEqual({ a: dealt['m-1']!.a, b: dealt['m-1']!.a });
    const ours = decoded(await coPartitionedAssigner('k')({ cluster: cluster(3) }).assign({ members: [member('m-1'), member('m-2')], topics: ['a', 'b'] }));
    expect(ours).toEqual({ 'm-1': { a: [0, 2], b: [0, 2] }, 'm-2': { a: [1], b: [1] } });
  });
});
