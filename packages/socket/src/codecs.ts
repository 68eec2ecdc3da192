/**
 * Framing helpers for byte streams: bytes arrive in arbitrary pieces (one frame split over reads, several
 * frames in one read), a decoder turns them back into whole frames. Plain classes, usable with any transport.
 */
import { assertNumber } from '@x/core';
import { FrameError } from './errors.js';

/** Options of {@link LengthPrefixedDecoder}. */
export interface LengthPrefixedOptions {
  /** Largest frame body accepted, bytes. Default 16 MiB. */
  maxFrameBytes?: number;
}

/**
 * Frames as a 4-byte big-endian body length followed by the body. `push` returns the complete frames (copies:
 * they stay valid after the read buffer is reused) and keeps any partial frame for the next call.
 *
 * @example
 * ```ts
 * onOpen: (conn) => { conn.data = new LengthPrefixedDecoder(); },
 * onData: (conn, bytes) => {
 *   for (const frame of (conn.data as LengthPrefixedDecoder).push(bytes)) conn.write(encodeLengthPrefixed(frame));
 * },
 * ```
 */
export class LengthPrefixedDecoder {
  private readonly maxFrameBytes: number;
  private pending: Buffer = Buffer.alloc(0);

  constructor(options: LengthPrefixedOptions = {}) {
    this.maxFrameBytes = assertNumber('options.maxFrameBytes', options.maxFrameBytes ?? 16 * 1024 * 1024, { min: 0, max: 0xffffffff, integer: true });
  }

  /** Bytes held back waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pending.byteLength;
  }

  /** Feeds bytes; returns every frame they complete. Throws {@link FrameError} `ERR_FRAME_TOO_LARGE`. */
  push(bytes: Uint8Array): Buffer[] {
    let data = this.pending.byteLength === 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.concat([this.pending, bytes]);
    const frames: Buffer[] = [];
    while (data.byteLength >= 4) {
      const length = data.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        this.pending = Buffer.alloc(0);
        throw new FrameError('ERR_FRAME_TOO_LARGE', `frame of ${length} bytes is above the limit of ${this.maxFrameBytes}`);
      }
      if (data.byteLength < 4 + length) break;
      frames.push(Buffer.from(data.subarray(4, 4 + length)));
      data = data.subarray(4 + length);
    }
    this.pending = Buffer.from(data);
    return frames;
  }
}

/** The 4-byte big-endian length followed by `body`. */
export function encodeLengthPrefixed(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, 4);
  return frame;
}

/** Options of {@link LineDecoder}. */
export interface LineDecoderOptions {
  /** Longest line accepted, bytes, without its terminator. Default 64 KiB. */
  maxLineBytes?: number;
  /** Reject bytes that are not valid UTF-8 with `ERR_FRAME_MALFORMED`. Default true. */
  requireUtf8?: boolean;
}

/**
 * Lines terminated by `\n` (a `\r` before it is dropped), returned as strings. A line longer than the limit,
 * even before its terminator arrives, throws: a peer cannot make the decoder buffer without bound.
 */
export class LineDecoder {
  private readonly maxLineBytes: number;
  private readonly decoder: InstanceType<typeof TextDecoder>;
  private pending: Buffer = Buffer.alloc(0);

  constructor(options: LineDecoderOptions = {}) {
    this.maxLineBytes = assertNumber('options.maxLineBytes', options.maxLineBytes ?? 65536, { min: 1, integer: true });
    this.decoder = new TextDecoder('utf-8', { fatal: options.requireUtf8 ?? true });
  }

  /** Feeds bytes; returns the lines they complete. Throws {@link FrameError}. */
  push(bytes: Uint8Array): string[] {
    let data = this.pending.byteLength === 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.concat([this.pending, bytes]);
    const lines: string[] = [];
    for (let newline = data.indexOf(10); newline >= 0; newline = data.indexOf(10)) {
      const end = newline > 0 && data[newline - 1] === 13 ? newline - 1 : newline;
      if (end > this.maxLineBytes) this.fail('ERR_FRAME_TOO_LARGE', `line of ${end} bytes is above the limit of ${this.maxLineBytes}`);
      lines.push(this.decode(data.subarray(0, end)));
      data = data.subarray(newline + 1);
    }
    if (data.byteLength > this.maxLineBytes) {
      this.fail('ERR_FRAME_TOO_LARGE', `${data.byteLength} bytes without a line end, above the limit of ${this.maxLineBytes}`);
    }
    this.pending = Buffer.from(data);
    return lines;
  }

  private decode(line: Uint8Array): string {
    try {
      return this.decoder.decode(line);
    } catch {
      this.fail('ERR_FRAME_MALFORMED', 'line is not valid UTF-8');
    }
  }

  private fail(code: 'ERR_FRAME_TOO_LARGE' | 'ERR_FRAME_MALFORMED', message: string): never {
    this.pending = Buffer.alloc(0);
    throw new FrameError(code, message);
  }
}
