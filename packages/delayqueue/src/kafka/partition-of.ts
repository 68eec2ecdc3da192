/**
 * The partition a job's record goes to: Kafka's default partitioner for a keyed record (the Java client's, which
 * kafkajs's default partitioner follows): MurmurHash2 of the key's UTF-8 bytes, made positive, modulo the
 * topic's partition count. The backend names the partition itself so that each produce request holds one
 * partition only (the broker answers per partition: a request refused is then exactly the jobs it held), and so
 * that a job keeps its partition number along its walk on every client (@platformatic/kafka's own default
 * differs: it does not mask the sign bit).
 */
export function partitionOf(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** MurmurHash2, 32 bits, as Kafka's `Utils.murmur2`: seed 0x9747b28c, little-endian 4-byte blocks. */
function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const blocks = length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const at = i * 4;
    let k = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1-3 bytes, as the reference's switch that falls through from case 3 to case 1.
  const tail = blocks * 4;
  const rest = length & 3;
  if (rest >= 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
