/**
 * Framing helpers for byte streams: bytes arrive in arbitrary pieces (one frame split over reads, several
 * frames in one read), a decoder turns them back into whole frames. Plain classes, usable with any transport.
 *
 * Both decoders are linear in the bytes they receive: a partial frame is kept as the pieces it came in (each
 * copied once, as the input is a view of memory the reactor reuses) and joined once, when the frame is
 * complete. Joining everything pending again on every read made one 16 MiB frame cost 10.5-11.7 s of CPU.
 *
 * Errors never cost the frames before them: a push whose bytes hold complete frames and then bad bytes returns
 * those frames, and the decoder has failed: its next `push` or `end` throws the error. A push that completes no
 * frame throws at once.
 */
import { InvalidArgumentError, assertBoolean, assertNumber } from '@x/core';
import { FrameError, type FrameErrorCode } from './errors.js';

/** Options of {@link LengthPrefixedDecoder}. */
export interface LengthPrefixedOptions {
  /** Largest frame body accepted, bytes. Default 16 MiB. */
  maxFrameBytes?: number;
}

/**
 * The bytes of a frame or line received so far (copies), joined once it is complete. Small reads are packed
 * into chunks that grow with what is pending (up to 64 KiB), so a peer sending a byte at a time costs a byte
 * per byte, not a Buffer object per byte (126 MiB of memory for a 1 MiB line, when each read was kept apart).
 */
class Pieces {
  private parts: Buffer[] = [];
  private current: Buffer | undefined;
  private used = 0;
  bytes = 0;

  /** Keeps a copy of `view`. */
  add(view: Buffer): void {
    if (view.byteLength === 0) return;
    if (this.current === undefined || this.current.byteLength - this.used < view.byteLength) {
      this.seal();
      this.current = Buffer.allocUnsafe(Math.max(view.byteLength, Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, this.bytes))));
    }
    view.copy(this.current, this.used);
    this.used += view.byteLength;
    this.bytes += view.byteLength;
  }

  /** The pieces and `tail` as one new Buffer; empties the collection. */
  join(tail: Buffer): Buffer {
    this.seal();
    const whole = this.parts.length === 0 ? Buffer.from(tail) : Buffer.concat([...this.parts, tail], this.bytes + tail.byteLength);
    this.clear();
    return whole;
  }

  clear(): void {
    this.parts = [];
    this.current = undefined;
    this.used = 0;
    this.bytes = 0;
  }

  private seal(): void {
    if (this.current !== undefined && this.used > 0) this.parts.push(this.current.subarray(0, this.used));
    this.current = undefined;
    this.used = 0;
  }
}

const MIN_CHUNK_BYTES = 256;
const MAX_CHUNK_BYTES = 64 * 1024;

/** The bytes a decoder is fed: a Uint8Array (a Buffer is one), as a Buffer view of the same memory. */
function bytesOf(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', bytes, 'a Uint8Array or Buffer');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What the two decoders share: the failed state, and returning frames decoded before a failure. */
abstract class Decoder<T> {
  private failure: FrameError | undefined;

  /** Throws the failure of an earlier push. */
  protected checkFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Fails with `code`: forgets what is pending, and throws now when `decoded` is empty; otherwise returns
   * `decoded` and throws at the next push or end.
   */
  protected fail(decoded: T[], code: FrameErrorCode, message: string): T[] {
    this.forget();
    // Sticky: the stream is out of step (or over), and what follows cannot be read as frames.
    this.failure = new FrameError(code, message);
    if (decoded.length === 0) throw this.failure;
    return decoded;
  }

  /** Drops whatever is pending. */
  protected abstract forget(): void;
}

/**
 * Frames as a 4-byte big-endian body length followed by the body. `push` returns the complete frames (copies:
 * they stay valid after the read buffer is reused) and keeps any partial frame for the next call; `end` says
 * whether the stream stopped inside one.
 *
 * @example
 * ```ts
 * onOpen: (conn) => { conn.data = new LengthPrefixedDecoder(); },
 * onData: (conn, bytes) => {
 *   for (const frame of (conn.data as LengthPrefixedDecoder).push(bytes)) conn.write(encodeLengthPrefixed(frame));
 * },
 * onEnd: (conn) => { (conn.data as LengthPrefixedDecoder).end(); conn.end(); },
 * ```
 */
export class LengthPrefixedDecoder extends Decoder<Buffer> {
  private readonly maxFrameBytes: number;
  private readonly header = Buffer.alloc(4);
  private headerBytes = 0;
  /** Length of the frame whose body is arriving; -1 while its header is. */
  private bodyLength = -1;
  private readonly body = new Pieces();

  constructor(options: LengthPrefixedOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
    this.maxFrameBytes = assertNumber('options.maxFrameBytes', options.maxFrameBytes ?? 16 * 1024 * 1024, { min: 0, max: 0xffffffff, integer: true });
  }

  /** Bytes held back waiting for the rest of a frame (its header included). */
  get bufferedBytes(): number {
    return this.bodyLength < 0 ? this.headerBytes : 4 + this.body.bytes;
  }

  /**
   * Feeds bytes; returns every frame they complete. Throws {@link FrameError} `ERR_FRAME_TOO_LARGE` (at once, or
   * at the next call when frames came before the bad header).
   */
  push(bytes: Uint8Array): Buffer[] {
    this.checkFailure();
    const input = bytesOf(bytes);
    const frames: Buffer[] = [];
    let offset = 0;
    while (offset < input.byteLength) {
      if (this.bodyLength < 0) {
        let length: number;
        if (this.headerBytes === 0 && input.byteLength - offset >= 4) {
          length = input.readUInt32BE(offset);
          offset += 4;
        } else {
          const take = Math.min(4 - this.headerBytes, input.byteLength - offset);
          input.copy(this.header, this.headerBytes, offset, offset + take);
          this.headerBytes += take;
          offset += take;
          if (this.headerBytes < 4) break;
          this.headerBytes = 0;
          length = this.header.readUInt32BE(0);
        }
        if (length > this.maxFrameBytes) {
          return this.fail(frames, 'ERR_FRAME_TOO_LARGE', `frame of ${length} bytes is above the limit of ${this.maxFrameBytes}`);
        }
        this.bodyLength = length;
      }
      const missing = this.bodyLength - this.body.bytes;
      if (input.byteLength - offset < missing) {
        this.body.add(input.subarray(offset));
        break;
      }
      frames.push(this.body.join(input.subarray(offset, offset + missing)));
      offset += missing;
      this.bodyLength = -1;
    }
    return frames;
  }

  /**
   * The stream ended: throws {@link FrameError} `ERR_FRAME_TRUNCATED` when it stopped inside a frame (or the
   * failure of the last push); the decoder is then empty.
   */
  end(): void {
    this.checkFailure();
    const buffered = this.bufferedBytes;
    if (buffered === 0) return;
    const expected = this.bodyLength < 0 ? 'its 4-byte header' : `${4 + this.bodyLength} bytes`;
    this.fail([], 'ERR_FRAME_TRUNCATED', `the stream ended inside a frame: ${buffered} bytes of ${expected}`);
  }

  protected forget(): void {
    this.headerBytes = 0;
    this.bodyLength = -1;
    this.body.clear();
  }
}

/** The 4-byte big-endian length followed by `body`. */
export function encodeLengthPrefixed(body: Uint8Array): Buffer {
  if (!(body instanceof Uint8Array)) throw new InvalidArgumentError('body', body, 'a Uint8Array or Buffer');
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
 * even before its terminator arrives, fails: a peer cannot make the decoder buffer without bound.
 */
export class LineDecoder extends Decoder<string> {
  private readonly maxLineBytes: number;
  private readonly decoder: InstanceType<typeof TextDecoder>;
  private readonly partial = new Pieces();

  constructor(options: LineDecoderOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
    this.maxLineBytes = assertNumber('options.maxLineBytes', options.maxLineBytes ?? 65536, { min: 1, integer: true });
    // ignoreBOM: a U+FEFF at the start of a line is the line's text (each line is decoded on its own, so the
    // default would strip it from every line, not only from the start of the stream).
    this.decoder = new TextDecoder('utf-8', { fatal: assertBoolean('options.requireUtf8', options.requireUtf8 ?? true), ignoreBOM: true });
  }

  /** Bytes of a line whose end has not arrived. */
  get bufferedBytes(): number {
    return this.partial.bytes;
  }

  /**
   * Feeds bytes; returns the lines they complete. Throws {@link FrameError} `ERR_FRAME_TOO_LARGE` or
   * `ERR_FRAME_MALFORMED` (at once, or at the next call when lines came before the bad bytes).
   */
  push(bytes: Uint8Array): string[] {
    this.checkFailure();
    const input = bytesOf(bytes);
    const lines: string[] = [];
    let start = 0;
    // Only the new bytes are searched: what is pending holds no line end.
    for (let newline = input.indexOf(10, start); newline >= 0; newline = input.indexOf(10, start)) {
      const pending = this.partial.bytes;
      let line = pending === 0 ? input.subarray(start, newline) : this.partial.join(input.subarray(start, newline));
      start = newline + 1;
      if (line.byteLength > 0 && line[line.byteLength - 1] === 13) line = line.subarray(0, line.byteLength - 1);
      if (line.byteLength > this.maxLineBytes) {
        return this.fail(lines, 'ERR_FRAME_TOO_LARGE', `line of ${line.byteLength} bytes is above the limit of ${this.maxLineBytes}`);
      }
      let text: string;
      try {
        text = this.decoder.decode(line);
      } catch {
        return this.fail(lines, 'ERR_FRAME_MALFORMED', 'line is not valid UTF-8');
      }
      lines.push(text);
    }
    const rest = input.byteLength - start;
    if (rest > 0 && this.partial.bytes + rest > this.maxLineBytes) {
      // One byte more than the limit may be the `\r` of a line exactly at it.
      const atLimitWithCr = this.partial.bytes + rest === this.maxLineBytes + 1 && input[input.byteLength - 1] === 13;
      if (!atLimitWithCr) {
        return this.fail(lines, 'ERR_FRAME_TOO_LARGE', `${this.partial.bytes + rest} bytes without a line end, above the limit of ${this.maxLineBytes}`);
      }
    }
    this.partial.add(input.subarray(start));
    return lines;
  }

  /**
   * The stream ended: throws {@link FrameError} `ERR_FRAME_TRUNCATED` when a line had no end yet (or the
   * failure of the last push); the decoder is then empty.
   */
  end(): void {
    this.checkFailure();
    const buffered = this.partial.bytes;
    if (buffered > 0) this.fail([], 'ERR_FRAME_TRUNCATED', `the stream ended inside a line: ${buffered} bytes without a line end`);
  }

  protected forget(): void {
    this.partial.clear();
  }
}
