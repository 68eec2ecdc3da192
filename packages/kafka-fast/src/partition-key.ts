/** A partition as one map key (topic names cannot hold NUL), and back. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function splitPartitionKey(key: string): [topic: string, partition: number] {
  const at = key.lastIndexOf('\u0000');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
