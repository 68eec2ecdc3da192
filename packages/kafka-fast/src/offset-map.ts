/**
 * What is done above a partition's committed offset, packed into the commit's metadata string so a restart or
 * the next owner of the partition skips it (Confluent Parallel Consumer's idea).
 *
 * Offsets are JavaScript numbers: exact up to 2^53 (about 285 years of a million records a second). The
 * committed offset `c` is itself incomplete by definition. The metadata is base64url of bytes that start with a
 * version:
 *
 *   2  [varint end - c - 1][segments]: every offset from c + 1 up to (not including) `end` is complete except
 *      those the segments mark. The segments walk 8-offset blocks aligned on absolute offsets (block k holds
 *      offsets 8k to 8k + 7), from the block of c + 1 on: each is varint(blocks skipped: nothing incomplete in
 *      them), varint(n), then n bytes, one per block, bit b set when offset 8k + b is incomplete. A long run of
 *      completed offsets costs a varint; the blocks where records are still running cost a byte each. Offsets
 *      that hold no record (compaction, transaction markers) count as complete: no record is skipped for them.
 *   1  (read only, written before version 2) [kind: 0 run-length | 1 bitset][payload] of the completed offsets:
 *      alternating varint lengths of incomplete and complete runs, or bit i set when c + 1 + i is complete.
 *
 * An empty string means "nothing completed above the committed offset".
 */

import { InvalidArgumentError, XError } from '@x/core';

const VERSION_1 = 1;
const VERSION_2 = 2;
const RUN_LENGTH = 0;
const BITSET = 1;

/**
 * Gaps of up to this many blocks between blocks with incomplete offsets are written as zero bytes rather than
 * as a new segment: a segment's two varints take up to 8 bytes (spans below 2^31 offsets), so written this way a
 * map never grows when records complete (see {@link MapSizeBound}).
 */
export const MERGE_GAP_BLOCKS = 7;

/** Thrown when metadata is not ours or is corrupt; the consumer treats it as "nothing known". */
export class OffsetMapFormatError extends XError<'ERR_OFFSET_MAP_FORMAT'> {
  constructor(message: string) {
    super('ERR_OFFSET_MAP_FORMAT', message);
  }
}

/** What a commit's metadata says about the offsets above the committed one. */
export interface OffsetMap {
  /** Offsets from the committed one + 1 up to (not including) `end` are complete, but for `incomplete`. */
  readonly end: number;
  /** The incomplete offsets below `end`, ascending. */
  readonly incomplete: readonly number[];
  /** Whether `offset` is known to be complete. */
  isComplete(offset: number): boolean;
}

/**
 * Encodes the state above `committed`: complete from committed + 1 up to `end`, but for `incomplete` (ascending,
 * each in that range). Returns '' when nothing is complete above `committed` (`end` at most committed + 1).
 * @internal
 */
export function encodeOffsetMap(committed: number, incomplete: readonly number[], end: number): string {
  if (end <= committed + 1) return '';
  const out: number[] = [VERSION_2];
  writeVarint(out, end - committed - 1);
  let block = Math.floor((committed + 1) / 8);
  let i = 0;
  while (i < incomplete.length) {
    const first = Math.floor(incomplete[i]! / 8);
    // A segment: the blocks skipped, then every block up to the last one that is followed by a gap too long
    // to write as zero bytes.
    let last = first;
    let j = i;
    while (j < incomplete.length && Math.floor(incomplete[j]! / 8) <= last + MERGE_GAP_BLOCKS + 1) {
      last = Math.floor(incomplete[j]! / 8);
      j++;
    }
    writeVarint(out, first - block);
    writeVarint(out, last - first + 1);
    const bytes = new Array<number>(last - first + 1).fill(0);
    for (; i < j; i++) {
      const offset = incomplete[i]!;
      bytes[Math.floor(offset / 8) - first]! |= 1 << (offset % 8);
    }
    for (const byte of bytes) out.push(byte);
    block = last + 1;
  }
  return Buffer.from(out).toString('base64url');
}

/** How many bytes a map may take in `limit` characters of base64url. @internal */
export function payloadBytesFor(limit: number): number {
  return Math.floor((limit * 3) / 4);
}

/**
 * The map in `metadata`, for a partition committed at `committed` (a number, or the decimal string kafkajs's
 * `admin.fetchOffsets()` gives).
 *
 * @example
 * ```ts
 * const [{ partitions }] = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] });
 * for (const { partition, offset, metadata } of partitions) {
 *   const map = decodeOffsetMap(offset, metadata);
 *   console.log(partition, `done up to ${map.end} but for`, map.incomplete);
 * }
 * ```
 */
export function decodeOffsetMap(committedOffset: number | string, metadata: string | null | undefined): OffsetMap {
  const committed = typeof committedOffset === 'string' && /^(0|-1|[1-9][0-9]{0,15})$/.test(committedOffset) ? Number(committedOffset) : committedOffset;
  if (typeof committed !== 'number' || !Number.isSafeInteger(committed) || committed < -1) {
    throw new InvalidArgumentError('committedOffset', committedOffset, 'an offset: an integer >= -1, or its decimal string');
  }
  if (!metadata) return mapOf(committed, committed + 1, []);
  const bytes = Buffer.from(metadata, 'base64url');
  if (bytes.length >= 2 && bytes[0] === VERSION_2) return decodeVersion2(committed, bytes);
  if (bytes.length < 2 || bytes[0] !== VERSION_1) throw new OffsetMapFormatError(`unknown offset map ${JSON.stringify(metadata.slice(0, 32))}`);
  const positions = bytes[1] === RUN_LENGTH ? decodeRuns(bytes.subarray(2)) : bytes[1] === BITSET ? decodeBits(bytes.subarray(2)) : undefined;
  if (!positions) throw new OffsetMapFormatError(`unknown offset map kind ${bytes[1]}`);
  // Version 1 lists what is complete, within the few tens of thousands of offsets its writer let a map span:
  // turned around here. A longer one was not written by it.
  const end = positions.length === 0 ? committed + 1 : committed + 2 + positions.at(-1)!;
  if (end - committed > MAX_VERSION_1_POSITIONS) throw new OffsetMapFormatError('version 1 offset map too long');
  const complete = new Set(positions.map((p) => committed + 1 + p));
  const incomplete: number[] = [];
  for (let offset = committed + 1; offset < end; offset++) if (!complete.has(offset)) incomplete.push(offset);
  return mapOf(committed, end, incomplete);
}

function decodeVersion2(committed: number, bytes: Buffer): OffsetMap {
  const reader = { bytes, at: 1 };
  const end = committed + 1 + readVarint(reader);
  const incomplete: number[] = [];
  let block = Math.floor((committed + 1) / 8);
  while (reader.at < bytes.length) {
    block += readVarint(reader);
    const count = readVarint(reader);
    if (reader.at + count > bytes.length) throw new OffsetMapFormatError('truncated segment in offset map');
    for (let k = 0; k < count; k++, block++) {
      const byte = bytes[reader.at++]!;
      for (let b = 0; b < 8; b++) {
        const offset = block * 8 + b;
        if (byte & (1 << b) && offset > committed && offset < end) incomplete.push(offset);
      }
    }
  }
  return mapOf(committed, end, incomplete);
}

function mapOf(committed: number, end: number, incomplete: number[]): OffsetMap {
  const open = new Set(incomplete);
  return { end, incomplete, isComplete: (offset) => offset > committed && offset < end && !open.has(offset) };
}

/**
 * An upper bound on the size of a partition's map, kept up to date as records are taken on and complete, so
 * that deciding whether one more record fits costs a few additions instead of encoding the map.
 *
 * The bound is 1 + 8 (version, `end`) + for each group of blocks with incomplete offsets (blocks within
 * MERGE_GAP_BLOCKS of each other grouped, as the encoder does) 8 bytes of segment header plus the group's
 * width in blocks. A completion never raises it: a block emptied inside a group leaves its width as it was,
 * and a group only splits once a gap wider than MERGE_GAP_BLOCKS (at least 8 blocks, so at least 8 bytes)
 * opens in it, which pays for the new header. Taking a record on raises it by at most one header and block.
 * So the bound grows only as records are taken on, and is recomputed from the block counts, which completions
 * keep exact, when it reaches the limit.
 * @internal
 */
export class MapSizeBound {
  /**
   * Incomplete offsets taken on per block, in pages of PAGE_BLOCKS blocks by page number (pages are made in
   * ascending order, so the map iterates in block order). Pages, not one array: offsets can jump by millions
   * (compaction), and the blocks in between hold nothing.
   */
  private readonly pages = new Map<number, Uint32Array>();
  /** The page of the highest block, where every record taken on lands, and its first block. */
  private topPage: Uint32Array | undefined;
  private topPageStart = -1;
  /** The highest block counted so far; -1 before the first. */
  private top = -1;
  /** Upper bound on the encoded size, in bytes. */
  private bound = HEADER_BYTES;
  /** Whether records completed since the bound was last recomputed (so recomputing may lower it). */
  private completedSince = false;

  constructor(private readonly limitBytes: number) {}

  /** Counts `offset` as taken on and incomplete; offsets come in ascending order. */
  add(offset: number): void {
    const block = Math.floor(offset / 8);
    if (this.topPage === undefined || block - this.topPageStart >= PAGE_BLOCKS) {
      const page = Math.floor(block / PAGE_BLOCKS);
      this.topPage = new Uint32Array(PAGE_BLOCKS);
      this.topPageStart = page * PAGE_BLOCKS;
      this.pages.set(page, this.topPage);
    }
    if (this.topPage[block - this.topPageStart]!++ === 0) this.bound += this.growth(block);
    this.top = block;
  }

  /**
   * What counting a first incomplete offset in `block` (at or above the highest block) adds to the bound: the
   * blocks from the highest one's group on when it is near enough to join it, else a new segment.
   */
  private growth(block: number): number {
    const gap = this.top < 0 ? Infinity : block - this.top;
    return gap <= MERGE_GAP_BLOCKS + 1 && this.count(this.top) > 0 ? gap : SEGMENT_HEADER_BYTES + 1;
  }

  /** Counts `offset` (added before) as complete. */
  remove(offset: number): void {
    const block = Math.floor(offset / 8);
    if (block >= this.topPageStart) this.topPage![block - this.topPageStart]!--;
    else {
      const page = this.pages.get(Math.floor(block / PAGE_BLOCKS));
      if (page !== undefined) page[block % PAGE_BLOCKS]!--;
    }
    this.completedSince = true;
  }

  /** Whether the map still fits if `offset`, above every offset added so far, is taken on too. */
  fits(offset: number): boolean {
    if (this.bound + SEGMENT_HEADER_BYTES + 1 <= this.limitBytes) return true;
    if (this.completedSince) this.recompute();
    const block = Math.floor(offset / 8);
    return this.bound + (this.count(block) > 0 ? 0 : this.growth(block)) <= this.limitBytes;
  }

  /** Drops the pages below `offset`'s, which hold nothing incomplete any more. */
  forgetBelow(offset: number): void {
    const keep = Math.floor(offset / 8 / PAGE_BLOCKS);
    for (const page of this.pages.keys()) {
      // (The page records are added to stays whatever: recompute() must see every count.)
      if (page >= keep || page * PAGE_BLOCKS === this.topPageStart) break;
      this.pages.delete(page);
    }
  }

  private count(block: number): number {
    return this.pages.get(Math.floor(block / PAGE_BLOCKS))?.[block % PAGE_BLOCKS] ?? 0;
  }

  private recompute(): void {
    let bound = HEADER_BYTES;
    let groupEnd = -Infinity;
    for (const [page, counts] of this.pages) {
      for (let i = 0; i < PAGE_BLOCKS; i++) {
        if (counts[i] === 0) continue;
        const block = page * PAGE_BLOCKS + i;
        bound += block - groupEnd <= MERGE_GAP_BLOCKS + 1 ? block - groupEnd : SEGMENT_HEADER_BYTES + 1;
        groupEnd = block;
      }
    }
    this.bound = bound;
    this.completedSince = false;
  }
}

/** Blocks per page of {@link MapSizeBound}'s counts (8,192 offsets). */
const PAGE_BLOCKS = 1024;
/** Version byte and `end` (a varint of up to 8 bytes for any offset below 2^53). */
const HEADER_BYTES = 9;
/** Two varints of up to 4 bytes: segments of spans below 2^31 offsets. */
const SEGMENT_HEADER_BYTES = 8;

function decodeRuns(bytes: Buffer): number[] {
  const positions: number[] = [];
  const reader = { bytes, at: 0 };
  let at = 0;
  while (reader.at < bytes.length) {
    at += readVarint(reader);
    const run = readVarint(reader);
    if (positions.length + run > MAX_VERSION_1_POSITIONS) throw new OffsetMapFormatError('version 1 offset map too long');
    for (let k = 0; k < run; k++) positions.push(at + k);
    at += run;
  }
  return positions;
}

/** Version 1 maps spanned 8 offsets per byte of the metadata limit (24,560 with 4,096): far more is not one. */
const MAX_VERSION_1_POSITIONS = 1 << 22;

function decodeBits(bytes: Buffer): number[] {
  const positions: number[] = [];
  for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) if (bytes[i]! & (1 << b)) positions.push(i * 8 + b);
  return positions;
}

function writeVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function readVarint(reader: { bytes: Buffer; at: number }): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (reader.at >= reader.bytes.length) throw new OffsetMapFormatError('truncated varint in offset map');
    const byte = reader.bytes[reader.at++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
    if (scale > 2 ** 49) throw new OffsetMapFormatError('varint too long in offset map');
  }
}
