import { OffsetMapFormatError, decodeOffsetMap, encodeOffsetMap } from '../src/offset-map.js';
import { PartitionTracker } from '../src/partition-tracker.js';

describe('offset map', () => {
  it('round-trips sparse and dense sets, choosing the shorter encoding', () => {
    const cases: bigint[][] = [
      [],
      [11n],
      [11n, 12n, 13n, 20n],
      Array.from({ length: 500 }, (_, i) => 11n + BigInt(i * 2)), // alternating: the bitset wins
      Array.from({ length: 3 }, (_, i) => 1_000_000n + BigInt(i)), // one far run: run-length wins
    ];
    for (const completed of cases) {
      const text = encodeOffsetMap(10n, completed);
      expect(decodeOffsetMap(10n, text)).toEqual(completed);
    }
    const alternating = encodeOffsetMap(10n, cases[3]!);
    expect(Buffer.from(alternating, 'base64url')[1]).toBe(1);
    const farRun = encodeOffsetMap(10n, cases[4]!);
    expect(Buffer.from(farRun, 'base64url')[1]).toBe(0);
    expect(farRun.length).toBeLessThan(12);
  });

  it('works with offsets beyond 2^53', () => {
    const base = 2n ** 60n;
    expect(decodeOffsetMap(base, encodeOffsetMap(base, [base + 2n, base + 3n]))).toEqual([base + 2n, base + 3n]);
  });

  it('rejects metadata that is not its own', () => {
    expect(() => decodeOffsetMap(0n, 'hello world')).toThrow(OffsetMapFormatError);
    expect(() => decodeOffsetMap(0n, Buffer.from([1, 0, 0x80]).toString('base64url'))).toThrow(/truncated/);
    expect(() => decodeOffsetMap(0n, Buffer.from([1, 7]).toString('base64url'))).toThrow(/kind/);
  });
});

describe('partition tracker', () => {
  it('commits only the lowest incomplete offset and carries completed ones above it', () => {
    const t = new PartitionTracker('t', 0, 1, 100n, null);
    for (let o = 100n; o < 110n; o++) expect(t.accept(o)).toBe('process');
    t.complete(101n);
    t.complete(103n);
    expect(t.commitOffset).toBe(100n);
    const first = t.takeCommit(4096)!;
    expect(first.offset).toBe(100n);
    expect(decodeOffsetMap(100n, first.metadata)).toEqual([101n, 103n]);
    expect(t.takeCommit(4096)).toBeUndefined();
    t.complete(100n);
    expect(t.commitOffset).toBe(102n);
    expect(t.incomplete).toBe(7);
    const second = t.takeCommit(4096)!;
    expect(second.offset).toBe(102n);
    expect(decodeOffsetMap(102n, second.metadata)).toEqual([103n]);
  });

  it('skips records completed under the previous owner, and records already taken on', () => {
    const metadata = encodeOffsetMap(50n, [51n, 53n]);
    const t = new PartitionTracker('t', 0, 1, 50n, metadata);
    expect([49n, 50n, 51n, 52n, 53n, 54n].map((o) => t.accept(o))).toEqual(['skip', 'process', 'skip', 'process', 'skip', 'process']);
    expect(t.accept(52n)).toBe('skip');
    t.complete(50n);
    expect(t.commitOffset).toBe(52n);
    t.complete(52n);
    t.complete(54n);
    expect(t.commitOffset).toBe(55n);
    expect(t.takeCommit(4096)).toEqual({ offset: 55n, metadata: '', truncated: false });
  });

  it('ignores metadata it cannot read, and starts at the first record without a committed offset', () => {
    const t = new PartitionTracker('t', 0, 1, 10n, 'not ours');
    expect(t.accept(11n)).toBe('process');
    const fresh = new PartitionTracker('t', 0, 1, -1n, null);
    expect(fresh.takeCommit(4096)).toBeUndefined();
    expect(fresh.accept(7n)).toBe('process');
    fresh.complete(7n);
    expect(fresh.takeCommit(4096)?.offset).toBe(8n);
  });

  it('keeps the metadata under the limit by dropping the highest completed offsets', () => {
    const t = new PartitionTracker('t', 0, 1, 0n, null);
    for (let o = 0n; o < 20_000n; o++) t.accept(o);
    for (let o = 1n; o < 20_000n; o += 2n) t.complete(o);
    const commit = t.takeCommit(128)!;
    expect(commit.truncated).toBe(true);
    expect(commit.metadata.length).toBeLessThanOrEqual(128);
    const kept = decodeOffsetMap(0n, commit.metadata);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept[0]).toBe(1n);
  });
});
