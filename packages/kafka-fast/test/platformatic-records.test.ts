import type { RecordsBatch } from '@platformatic/kafka';
import { decodeRecords } from '../src/platformatic/records.js';

/** A record batch as @platformatic/kafka parses it; records given as [offsetDelta, key, value, headers]. */
function batch(firstOffset: bigint, records: [number, string | null, string | null, [string, string][]?][], extra: Partial<RecordsBatch> = {}): RecordsBatch {
  return {
    firstOffset,
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: 0,
    lastOffsetDelta: Math.max(...records.map(([delta]) => delta)),
    firstTimestamp: 1_700_000_000_000n,
    maxTimestamp: 1_700_000_000_000n,
    producerId: -1n,
    producerEpoch: -1,
    firstSequence: -1,
    records: records.map(([offsetDelta, key, value, headers = []]) => ({
      length: 0,
      attributes: 0,
      timestampDelta: BigInt(offsetDelta),
      offsetDelta,
      key: key === null ? null : Buffer.from(key),
      value: value === null ? null : Buffer.from(value),
      headers: headers.map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as [Buffer, Buffer]),
    })),
    ...extra,
  };
}

function partition(batches: RecordsBatch[], abortedTransactions: { producerId: bigint; firstOffset: bigint }[] | null = null) {
  return { partitionIndex: 0, errorCode: 0, highWatermark: 100n, lastStableOffset: 100n, logStartOffset: 0n, abortedTransactions, preferredReadReplica: -1, records: batches };
}

/** A control batch ending `producerId`'s transaction: type 0 aborts, 1 commits. */
function marker(offset: bigint, producerId: bigint, type: 0 | 1): RecordsBatch {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(type, 2);
  const control = batch(offset, [[0, null, null]], { attributes: 0x30, producerId });
  control.records[0]!.key = key;
  return control;
}

describe('decodeRecords', () => {
  it('gives offsets and timestamps as decimal strings, nulls as nulls, and repeated header keys as arrays', () => {
    const { messages, next } = decodeRecords(partition([batch(10n, [[0, 'a', '1', [['h', 'x'], ['h', 'y'], ['g', 'z']]], [1, null, null]])]), 10n);
    expect(messages.map((m) => [m.offset, m.timestamp, m.key?.toString() ?? null, m.value?.toString() ?? null])).toEqual([
      ['10', '1700000000000', 'a', '1'],
      ['11', '1700000000001', null, null],
    ]);
    expect(messages[0]!.headers).toEqual({ h: [Buffer.from('x'), Buffer.from('y')], g: Buffer.from('z') });
    expect(messages[1]!.headers).toEqual({});
    expect(next).toBe(12n);
  });

  it('leaves out the records of a batch below the position (a batch comes whole)', () => {
    const { messages } = decodeRecords(partition([batch(10n, [[0, 'a', '1'], [1, 'b', '2'], [2, 'c', '3']])]), 12n);
    expect(messages.map((m) => m.offset)).toEqual(['12']);
  });

  it('keeps offsets past 2^53 exact', () => {
    const first = 2n ** 60n;
    const { messages, next } = decodeRecords(partition([batch(first, [[0, 'a', '1'], [1, 'b', '2']])]), first);
    expect(messages.map((m) => m.offset)).toEqual([first.toString(), (first + 1n).toString()]);
    expect(next).toBe(first + 2n);
  });

  it('under read_committed skips control batches and aborted transactions, and moves on past them', () => {
    const aborted = batch(0n, [[0, 'x', 'aborted-1'], [1, 'x', 'aborted-2']], { attributes: 0x10, producerId: 7n });
    const committed = batch(3n, [[0, 'y', 'committed']], { attributes: 0x10, producerId: 8n });
    const plain = batch(6n, [[0, 'z', 'plain']]);
    const { messages, next } = decodeRecords(
      partition([aborted, marker(2n, 7n, 0), committed, marker(4n, 8n, 1), batch(5n, [[0, 'x', 'after-abort']], { attributes: 0x10, producerId: 7n }), plain], [{ producerId: 7n, firstOffset: 0n }]),
      0n,
    );
    expect(messages.map((m) => m.value?.toString())).toEqual(['committed', 'after-abort', 'plain']);
    expect(next).toBe(7n);
  });

  it('moves the position past a fetch of nothing but control batches', () => {
    const { messages, next } = decodeRecords(partition([marker(40n, 3n, 1)]), 40n);
    expect(messages).toEqual([]);
    expect(next).toBe(41n);
  });

  it('handles a fetch with no records', () => {
    expect(decodeRecords({ ...partition([]), records: null } as never, 5n)).toEqual({ messages: [], next: 5n });
  });
});
