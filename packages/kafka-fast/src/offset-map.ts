/**
 * The completed offsets above a partition's committed offset, packed into the commit's metadata string so a
 * restart or the next owner of the partition skips them (Confluent Parallel Consumer's idea).
 *
 * Offsets are JavaScript numbers: exact up to 2^53 (about 285 years of a million records a second).
 * Offsets are relative to the committed offset `c` (which is itself incomplete by definition): position i
 * stands for offset c + 1 + i. Two encodings, whichever is shorter:
 *   run-length  alternating varint lengths: incomplete run, complete run, incomplete run, ...
 *   bitset      bit i set when position i is complete
 * Layout: base64url of [version = 1][kind: 0 run-length | 1 bitset][payload]. An empty string means "nothing
 * completed above the committed offset".
 */

const VERSION = 1;
const RUN_LENGTH = 0;
const BITSET = 1;

/** Thrown when metadata is not ours or is corrupt; callers treat it as "nothing known". */
export class OffsetMapFormatError extends Error {}

/**
 * Encodes `completed` (sorted ascending, each > committed) relative to `committed`. Returns '' for an empty list.
 */
export function encodeOffsetMap(committed: number, completed: readonly number[]): string {
  if (completed.length === 0) return '';
  const positions = completed.map((offset) => offset - committed - 1);
  const runLength = encodeRuns(positions);
  const bitset = encodeBits(positions);
  const [kind, payload] = runLength.length <= bitset.length ? [RUN_LENGTH, runLength] : [BITSET, bitset];
  return Buffer.concat([Buffer.from([VERSION, kind]), payload]).toString('base64url');
}

/**
 * The widest span of offsets above a committed offset c (offsets c + 1 to c + span) whose map fits in `limit`
 * characters whatever is complete in it: the bitset of such a span takes at most span / 8 bytes, and the
 * run-length form is only used when shorter. Keeping the records taken on within this span of the lowest
 * incomplete one is how a partition's map never outgrows the broker's metadata limit.
 */
export function maxSpanFor(limit: number): number {
  // base64url of [version][kind][payload]: floor(limit * 3 / 4) bytes fit in `limit` characters.
  return (Math.floor((limit * 3) / 4) - 2) * 8;
}

/** The completed offsets encoded in `metadata` for a partition committed at `committed`. */
export function decodeOffsetMap(committed: number, metadata: string | null | undefined): number[] {
  if (!metadata) return [];
  const bytes = Buffer.from(metadata, 'base64url');
  if (bytes.length < 2 || bytes[0] !== VERSION) throw new OffsetMapFormatError(`unknown offset map ${JSON.stringify(metadata.slice(0, 32))}`);
  const positions = bytes[1] === RUN_LENGTH ? decodeRuns(bytes.subarray(2)) : bytes[1] === BITSET ? decodeBits(bytes.subarray(2)) : undefined;
  if (!positions) throw new OffsetMapFormatError(`unknown offset map kind ${bytes[1]}`);
  return positions.map((p) => committed + 1 + p);
}

function encodeRuns(positions: readonly number[]): Buffer {
  const out: number[] = [];
  let at = 0;
  let i = 0;
  while (i < positions.length) {
    const start = positions[i]!;
    let end = start;
    while (i + 1 < positions.length && positions[i + 1] === end + 1) end = positions[++i]!;
    i++;
    writeVarint(out, start - at); // incomplete run before
    writeVarint(out, end - start + 1); // complete run
    at = end + 1;
  }
  return Buffer.from(out);
}

function decodeRuns(bytes: Buffer): number[] {
  const positions: number[] = [];
  const reader = { bytes, at: 0 };
  let at = 0;
  while (reader.at < bytes.length) {
    at += readVarint(reader);
    const run = readVarint(reader);
    for (let k = 0; k < run; k++) positions.push(at + k);
    at += run;
  }
  return positions;
}

function encodeBits(positions: readonly number[]): Buffer {
  const bits = Buffer.alloc((positions.at(-1)! >> 3) + 1);
  for (const p of positions) bits[p >> 3]! |= 1 << (p & 7);
  return bits;
}

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
