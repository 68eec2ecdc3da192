/**
 * Decode cost of length-prefixed frames arriving in 64 KiB reads (what a reactor read hands a decoder): ours
 * (LengthPrefixedDecoder) against frame-stream's decoder, the Transform stream most such code is built on. Both
 * run in this process; the figure is milliseconds of one core per MiB of frames.
 */
import { performance } from 'node:perf_hooks';
import { decode as frameStreamDecoder } from 'frame-stream';
import { LengthPrefixedDecoder, encodeLengthPrefixed } from '@x/socket';

const READ_BYTES = 64 * 1024;

/** `totalBytes` of frames of `frameBytes` each, cut into reads of 64 KiB. */
function reads(frameBytes: number, totalBytes: number): Buffer[] {
  const frame = encodeLengthPrefixed(Buffer.alloc(frameBytes, 7));
  const stream = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(totalBytes / frameBytes)) }, () => frame));
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < stream.byteLength; offset += READ_BYTES) chunks.push(stream.subarray(offset, offset + READ_BYTES));
  return chunks;
}

/** Milliseconds per MiB to decode every frame, checking the count so that nothing is skipped. */
export async function decodeCost(side: 'ours' | 'theirs', frameBytes: number, totalBytes: number): Promise<number> {
  const chunks = reads(frameBytes, totalBytes);
  const expected = Math.max(1, Math.floor(totalBytes / frameBytes));
  let frames = 0;
  const started = performance.now();
  if (side === 'ours') {
    const decoder = new LengthPrefixedDecoder();
    for (const chunk of chunks) frames += decoder.push(chunk).length;
  } else {
    const decoder = frameStreamDecoder();
    decoder.on('data', () => frames++);
    for (const chunk of chunks) decoder.write(chunk);
    // A stream hands its output over in later ticks (and takes more input as it does): wait for the last frame.
    while (frames < expected) await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsed = performance.now() - started;
  if (frames !== expected) throw new Error(`${side}: ${frames} frames decoded of ${expected}`);
  return elapsed / ((expected * frameBytes) / 1024 ** 2);
}
