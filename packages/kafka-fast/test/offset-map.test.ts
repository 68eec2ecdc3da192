import { OffsetMapFormatError, decodeOffsetMap, encodeOffsetMap, maxSpanFor } from '../src/offset-map.js';
import { PartitionTracker } from '../src/partition-tracker.js';

describe('offset map', () => {
  it('fits in the limit for any completed set within maxSpanFor(limit), and the bound is tight', () => {
    const committed = 1_000;
    for (const limit of [64, 100, 257, 1_024, 4_096]) {
      const span = maxSpanFor(limit);
      // Every pattern within the span, up to its last offset: none may be longer than the limit.
      const patterns = [
        Array.from({ length: span }, (_, i) => committed + 1 + i).filter((o) => o % 2 === 0 || o === committed + span),
        Array.from({ length: span }, (_, i) => committed + 1 + i).filter((o) => o % 3 !== 0 || o === committed + span),
        [committed + span],
        Array.from({ length: span - 1 }, (_, i) => committed + 2 + i),
      ];
      for (const completed of patterns) expect(encodeOffsetMap(committed, completed).length).toBeLessThanOrEqual(limit);
      // A few offsets further and the alternating pattern no longer fits.
      const wider = Array.from({ length: span + 24 }, (_, i) => committed + 1 + i).filter((o) => o % 2 === 0);
      expect(encodeOffsetMap(committed, wider).length).toBeGreaterThan(limit);
    }
  });

  it('round-trips sparse and dense sets, choosing the shorter encoding', () => {
    const cases: number[][] = [
      [],
      [11],
      [11, 12, 13, 20],
      Array.from({ length: 500 }, (_, i) => 11 + i * 2), // alternating: the bitset wins
      Array.from({ length: 3 }, (_, i) => 1_000_000 + i), // one far run: run-length wins
    ];
    for (const completed of cases) {
      const text = encodeOffsetMap(10, completed);
      expect(decodeOffsetMap(10, text)).toEqual(completed);
    }
    const alternating = encodeOffsetMap(10, cases[3]!);
    expect(Buffer.from(alternating, 'base64url')[1]).toBe(1);
    const farRun = encodeOffsetMap(10, cases[4]!);
    expect(Buffer.from(farRun, 'base64url')[1]).toBe(0);
    expect(farRun.length).toBeLessThan(12);
  });

  it('is exact for offsets up to 2^53', () => {
    const base = 2 ** 52;
    expect(decodeOffsetMap(base, encodeOffsetMap(base, [base + 2, base + 3]))).toEqual([base + 2, base + 3]);
  });

  it('rejects metadata that is not its own', () => {
    expect(() => decodeOffsetMap(0, 'hello world')).toThrow(OffsetMapFormatError);
    expect(() => decodeOffsetMap(0, Buffer.from([1, 0, 0x80]).toString('base64url'))).toThrow(/truncated/);
    expect(() => decodeOffsetMap(0, Buffer.from([1, 7]).toString('base64url'))).toThrow(/kind/);
  });
});

describe('partition tracker', () => {
  it('commits only the lowest incomplete offset and carries completed ones above it', () => {
    const t = new PartitionTracker('t', 0, 100, null);
    for (let o = 100; o < 110; o++) expect(t.accept(o)).toBe('process');
    t.complete(101);
    t.complete(103);
    expect(t.commitOffset).toBe(100);
    const first = t.takeCommit(4096)!;
    expect(first.offset).toBe(100);
    expect(decodeOffsetMap(100, first.metadata)).toEqual([101, 103]);
    expect(t.takeCommit(4096)).toBeUndefined();
    t.complete(100);
    expect(t.commitOffset).toBe(102);
    expect(t.incomplete).toBe(7);
    const second = t.takeCommit(4096)!;
    expect(second.offset).toBe(102);
    expect(decodeOffsetMap(102, second.metadata)).toEqual([103]);
  });

  it('skips records completed under the previous owner, and records already taken on', () => {
    const metadata = encodeOffsetMap(50, [51, 53]);
    const t = new PartitionTracker('t', 0, 50, metadata);
    expect([49, 50, 51, 52, 53, 54].map((o) => t.accept(o))).toEqual(['skip', 'process', 'skip', 'process', 'skip', 'process']);
    expect(t.accept(52)).toBe('skip');
    t.complete(50);
    expect(t.commitOffset).toBe(52);
    t.complete(52);
    t.complete(54);
    expect(t.commitOffset).toBe(55);
    expect(t.takeCommit(4096)).toEqual({ offset: 55, metadata: '', truncated: false });
  });

  it('ignores metadata it cannot read, and starts at the first record without a committed offset', () => {
    const t = new PartitionTracker('t', 0, 10, 'not ours');
    expect(t.accept(11)).toBe('process');
    const fresh = new PartitionTracker('t', 0, -1, null);
    expect(fresh.takeCommit(4096)).toBeUndefined();
    expect(fresh.accept(7)).toBe('process');
    fresh.complete(7);
    expect(fresh.takeCommit(4096)?.offset).toBe(8);
  });

  it('keeps the metadata under the limit by dropping the highest completed offsets', () => {
    const t = new PartitionTracker('t', 0, 0, null);
    for (let o = 0; o < 20_000; o++) t.accept(o);
    for (let o = 1; o < 20_000; o += 2) t.complete(o);
    const commit = t.takeCommit(128)!;
    expect(commit.truncated).toBe(true);
    expect(commit.metadata.length).toBeLessThanOrEqual(128);
    const kept = decodeOffsetMap(0, commit.metadata);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept[0]).toBe(1);
  });
});
