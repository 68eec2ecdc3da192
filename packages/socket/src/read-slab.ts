/**
 * The reactor's read memory. Successive reads land one after another in one large buffer, instead of all at the
 * start of one small buffer, so a reply that echoes (or slices) the bytes a handler was given can stay queued as
 * a view: nothing overwrites those bytes until the slab wraps around. The reactor wraps it at the start of a
 * turn, when the turn's replies have normally been written already; only views still queued then (a peer that
 * is not reading) are copied. With a single read buffer every queued reply had to be copied before the next
 * read, which on a ping-pong load meant a copy, and an allocation, per request.
 */
import { addressOf } from './libc/library.js';
import { readAtAddress } from './libc/io.js';

export class ReadSlab {
  /** The slab itself; views handed out by {@link take} are views of this memory. */
  readonly memory: Buffer;
  /**
   * The slab's address as a plain number (user-space addresses fit in 47 bits, well within a double): a read
   * at an offset passes `address + offset` to read(2), with no view created and no BigInt per read.
   */
  private readonly address: number;
  private offset = 0;

  /**
   * @param chunkSize bytes asked for by each read
   * @param chunks how many full-size reads fit before the slab must wrap
   */
  constructor(
    readonly chunkSize: number,
    chunks: number,
  ) {
    // Off the V8 heap, so the memory never moves and its address stays valid.
    this.memory = Buffer.allocUnsafeSlow(chunkSize * chunks);
    this.address = Number(addressOf(this.memory));
  }

  /** The memory every view shares (what `Outbound.detachFrom` looks for). */
  get arrayBuffer(): ArrayBuffer {
    return this.memory.buffer as ArrayBuffer;
  }

  /** True when bytes have been taken since the last wrap. */
  get inUse(): boolean {
    return this.offset > 0;
  }

  /** True when the next read might not fit: move queued views out, then {@link wrap}. */
  get full(): boolean {
    return this.memory.byteLength - this.offset < this.chunkSize;
  }

  /** Reads up to `chunkSize` bytes from `fd` into the free part of the slab: bytes read, 0 at end, -1 on EAGAIN. */
  read(fd: number): number {
    return readAtAddress(fd, this.address + this.offset, this.chunkSize);
  }

  /** The `count` bytes the last read delivered, as a view; the next read goes after them. */
  take(count: number): Buffer {
    const view = this.memory.subarray(this.offset, this.offset + count);
    this.offset += count;
    return view;
  }

  /** Starts again at the beginning: every view handed out so far may be overwritten from now on. */
  wrap(): void {
    this.offset = 0;
  }
}
