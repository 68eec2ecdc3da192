import { randomBytes } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { partitionOf } from '../src/kafka/partition-of.js';

/** kafkajs's default partitioner (the Java client's), asked as a producer asks it. */
function kafkajsPartition(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } } as never);
}

it("picks the partition Kafka's default partitioner picks, for every kind of key and partition count", () => {
  const keys = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', '21', 'foobar', 'é', '日本語のキー', '\u{1F600}', '\ud800', 'x\udfffy'];
  for (let i = 0; i < 3_000; i++) keys.push(randomBytes(1 + (i % 40)).toString(i % 2 === 0 ? 'base64' : 'latin1'));
  for (const partitions of [1, 2, 3, 4, 7, 12, 64, 1_000]) {
    const differing = keys.filter((key) => partitionOf(key, partitions) !== kafkajsPartition(key, partitions));
    expect({ partitions, differing }).toEqual({ partitions, differing: [] });
  }
});

it('spreads keys over every partition', () => {
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8_000; i++) counts[partitionOf(`job-${i}`, 8)]!++;
  for (const count of counts) expect(count).toBeGreaterThan(800);
});
