import fc from 'fast-check';
import { MapSizeBound, OffsetMapFormatError, decodeOffsetMap, encodeOffsetMap, payloadBytesFor } from '../src/offset-map.js';
import { PartitionTracker } from '../src/partition-tracker.js';

/** Every offset from committed + 1 to end - 1 the map says is complete. */
function completedIn(committed: number, metadata: string): number[] {
  const map = decodeOffsetMap(committed, metadata);
  const out: number[] = [];
  for (let o = committed + 1; o < map.end; o++) if (map.isComplete(o)) out.push(o);
  return out;
}

describe('offset map', () => {
  it('round-trips any set of incomplete offsets exactly, however sparse or dense', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.array(fc.integer({ min: 1, max: 4_999 }), { maxLength: 2_000 }),
        (committed, width, raw) => {
          const end = committed + 1 + width;
          const incomplete = [...new Set(raw.map((r) => committed + r))].filter((o) => o < end).sort((a, b) => a - b);
          const map = decodeOffsetMap(committed, encodeOffsetMap(committed, incomplete, end));
          expect(map.end).toBe(end);
          expect(map.incomplete).toEqual(incomplete);
          for (const o of [committed, committed + 1, end - 1, end, end + 1]) expect(map.isComplete(o)).toBe(o > committed && o < end && !incomplete.includes(o));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is exact for offsets up to 2^53 and says nothing for an empty map', () => {
    const base = 2 ** 52;
    const map = decodeOffsetMap(base, encodeOffsetMap(base, [base + 1], base + 4));
    expect([base + 1, base + 2, base + 3, base + 4].map((o) => map.isComplete(o))).toEqual([false, true, true, false]);
    expect(encodeOffsetMap(10, [], 11)).toBe('');
    expect(decodeOffsetMap(10, '').isComplete(11)).toBe(false);
    expect(decodeOffsetMap(10, null).end).toBe(11);
  });

  it('holds any pattern within 24,000 offsets in 4,096 characters, as the bitset of version 1 did', () => {
    const committed = 1_000;
    const end = committed + 24_001;
    const every = Array.from({ length: 24_000 }, (_, i) => committed + 1 + i);
    for (const incomplete of [every.filter((o) => o % 2 === 0), every.filter((o) => o % 3 === 0), every.filter((o) => o % 97 === 0), every.slice(0, -1)]) {
      expect(encodeOffsetMap(committed, incomplete, end).length).toBeLessThanOrEqual(4_096);
    }
  });

  it('holds a span of millions in 4,096 characters when completions are dense: a few stragglers and the records in flight', () => {
    const committed = 5_000;
    const end = committed + 2_000_000;
    // Five stragglers across the span, and the top 10,000 offsets (a full default buffer) half incomplete at random.
    const stragglers = [committed + 1, committed + 333_333, committed + 777_777, committed + 1_234_567, committed + 1_900_000];
    let seed = 3;
    const inFlight: number[] = [];
    for (let o = end - 10_000; o < end - 1; o++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      if (seed % 2 === 0) inFlight.push(o);
    }
    const metadata = encodeOffsetMap(committed, [...stragglers, ...inFlight], end);
    expect(metadata.length).toBeLessThanOrEqual(4_096);
    const map = decodeOffsetMap(committed, metadata);
    expect(map.incomplete).toEqual([...stragglers, ...inFlight]);
  });

  it('reads version 1 maps written before version 2, so a group committed by them resumes correctly', () => {
    // Written by the version 1 encoder: committed 10, completed [11, 12, 13, 20] (run-length) and every other
    // offset from 11 to 49 (bitset).
    expect(completedIn(10, 'AQEHAg')).toEqual([11, 12, 13, 20]);
    expect(completedIn(10, 'AQFVVVVVVQ')).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i * 2));
    const tracker = new PartitionTracker('t', 0, 10, 'AQEHAg', 4_096);
    expect([10, 11, 12, 13, 14, 20, 21].map((o) => tracker.accept(o))).toEqual(['process', 'skip', 'skip', 'skip', 'process', 'skip', 'process']);
  });

  it('rejects metadata that is not its own', () => {
    expect(() => decodeOffsetMap(0, 'hello world')).toThrow(OffsetMapFormatError);
    expect(() => decodeOffsetMap(0, Buffer.from([1, 0, 0x80]).toString('base64url'))).toThrow(/truncated/);
    expect(() => decodeOffsetMap(0, Buffer.from([1, 7]).toString('base64url'))).toThrow(/kind/);
    expect(() => decodeOffsetMap(0, Buffer.from([2, 10, 0, 5, 1]).toString('base64url'))).toThrow(/truncated/);
    // A version 1 map far longer than its writer could make (a run-length of 2^30 offsets).
    expect(() => decodeOffsetMap(0, Buffer.from([1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x04]).toString('base64url'))).toThrow(/too long/);
  });
});

describe('map size bound', () => {
  it('never lets a tracker take on a record whose map could outgrow the limit, whatever completes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 100, 256, 1_024),
        fc.array(fc.tuple(fc.nat(99), fc.nat(1_000_000)), { minLength: 1, maxLength: 3_000 }),
        (limit, steps) => {
          const tracker = new PartitionTracker('t', 0, 0, null, limit);
          const open: number[] = [];
          let next = 0;
          for (const [kind, pick] of steps) {
            if (kind < 60 || open.length === 0) {
              // The next record (sometimes after a gap: compaction), taken on only when it fits.
              const offset = next + (kind < 3 ? 1 + (pick % 50_000) : 0);
              if (!tracker.fits(offset)) continue;
              expect(tracker.accept(offset)).toBe('process');
              open.push(offset);
              next = offset + 1;
            } else {
              const [offset] = open.splice(pick % open.length, 1);
              tracker.complete(offset!);
            }
            const commit = tracker.takeCommit();
            if (commit === undefined) continue;
            expect(commit.truncated).toBe(false);
            expect(commit.metadata.length).toBeLessThanOrEqual(limit);
            tracker.markChanged();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('lets a partition run millions of offsets past one stuck record with the default limit', () => {
    const tracker = new PartitionTracker('t', 0, 0, null, 4_096);
    tracker.accept(0);
    // Record 0 is stuck; 256 records in flight at a time behind it, completing out of order.
    const inFlight: number[] = [];
    let offset = 1;
    for (; offset < 2_000_000 && tracker.fits(offset); offset++) {
      tracker.accept(offset);
      inFlight.push(offset);
      if (inFlight.length === 256) for (const o of inFlight.splice(0, 128).reverse()) tracker.complete(o);
    }
    expect(offset).toBe(2_000_000);
    expect(tracker.commitOffset).toBe(0);
    const commit = tracker.takeCommit()!;
    expect(commit.truncated).toBe(false);
    expect(commit.metadata.length).toBeLessThanOrEqual(4_096);
    expect(completedIn(0, commit.metadata)).toHaveLength(offset - 1 - inFlight.length);
  });

  it('says no once the limit is reached, and yes again when the records in the way complete', () => {
    const bound = new MapSizeBound(payloadBytesFor(64));
    // Every other offset incomplete: 48 bytes (64 characters) hold the header (9), one segment's (8) and 31
    // blocks of 8 offsets.
    let offset = 0;
    for (; bound.fits(offset); offset += 2) bound.add(offset);
    expect(offset).toBe(31 * 8);
    for (let o = 0; o < offset; o += 2) bound.remove(o);
    expect(bound.fits(offset)).toBe(true);
  });
});

describe('partition tracker', () => {
  it('commits only the lowest incomplete offset and carries completed ones above it', () => {
    const t = new PartitionTracker('t', 0, 100, null, 4_096);
    for (let o = 100; o < 110; o++) expect(t.accept(o)).toBe('process');
    t.complete(101);
    t.complete(103);
    expect(t.commitOffset).toBe(100);
    const first = t.takeCommit()!;
    expect(first.offset).toBe(100);
    expect(completedIn(100, first.metadata)).toEqual([101, 103]);
    expect(t.takeCommit()).toBeUndefined();
    t.complete(100);
    expect(t.commitOffset).toBe(102);
    expect(t.incomplete).toBe(7);
    const second = t.takeCommit()!;
    expect(second.offset).toBe(102);
    expect(completedIn(102, second.metadata)).toEqual([103]);
  });

  it('skips records completed under the previous owner, and records already taken on', () => {
    const metadata = encodeOffsetMap(50, [52], 54);
    const t = new PartitionTracker('t', 0, 50, metadata, 4_096);
    expect([49, 50, 51, 52, 53, 54].map((o) => t.accept(o))).toEqual(['skip', 'process', 'skip', 'process', 'skip', 'process']);
    expect(t.accept(52)).toBe('skip');
    t.complete(50);
    expect(t.commitOffset).toBe(52);
    t.complete(52);
    t.complete(54);
    expect(t.commitOffset).toBe(55);
    expect(t.takeCommit()).toEqual({ offset: 55, metadata: '', truncated: false });
  });

  it('ignores metadata it cannot read, and starts at the first record without a committed offset', () => {
    const t = new PartitionTracker('t', 0, 10, 'not ours', 4_096);
    expect(t.accept(11)).toBe('process');
    const fresh = new PartitionTracker('t', 0, -1, null, 4_096);
    expect(fresh.takeCommit()).toBeUndefined();
    expect(fresh.accept(7)).toBe('process');
    fresh.complete(7);
    expect(fresh.takeCommit()?.offset).toBe(8);
  });

  it('keeps the metadata under the limit when records were taken on past it, describing less of the span', () => {
    const t = new PartitionTracker('t', 0, 0, null, 128);
    // Taken on without asking fits(): what a client without pause() ends up doing.
    for (let o = 0; o < 20_000; o++) t.accept(o);
    for (let o = 1; o < 20_000; o += 2) t.complete(o);
    const commit = t.takeCommit()!;
    expect(commit.truncated).toBe(true);
    expect(commit.metadata.length).toBeLessThanOrEqual(128);
    const kept = completedIn(0, commit.metadata);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept[0]).toBe(1);
    expect(kept.every((o) => o % 2 === 1)).toBe(true);
  });
});
