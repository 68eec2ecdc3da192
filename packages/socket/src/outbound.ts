/**
 * A connection's queue of bytes (and file ranges) not yet accepted by the kernel, written with as few system
 * calls as possible: one write for one chunk, one writev for many, sendfile for file ranges.
 */
import { closeSync } from 'node:fs';
import { IOV_MAX, type IoVector, writeSome } from './libc/io.js';
import { sendfileSome } from './libc/zero-copy.js';

/** A range of an open file to send with sendfile. */
export interface FileRange {
  fileFd: number;
  /** The kernel advances this 8-byte offset as it sends. */
  offset: Buffer;
  remaining: number;
  /** Close `fileFd` once sent (or dropped): true when the reactor opened it. */
  ownsFd: boolean;
}

type Entry = Uint8Array | FileRange;

/**
 * What flushes wrote, added to as bytes go out: when a later call of the same flush throws (a file that cannot be
 * sent, a reset), what already went out is still counted. One per reactor, reused (no object per flush).
 */
export interface FlushTally {
  written: number;
  /** System calls made. */
  calls: number;
}

export class Outbound {
  /**
   * Queued entries are `entries[head]` to `entries[tail - 1]`. The array is reused between flushes (slots
   * cleared, length kept): emptying it with `length = 0` and pushing again reallocates its backing store,
   * about 45 ns a reply, which on a ping-pong load is several percent of a request.
   */
  private entries: (Entry | undefined)[] = [];
  private head = 0;
  private tail = 0;
  /** Bytes queued, file ranges included. */
  bytes = 0;

  get isEmpty(): boolean {
    return this.head === this.tail;
  }

  push(entry: Entry): void {
    this.entries[this.tail++] = entry;
    this.bytes += entry instanceof Uint8Array ? entry.byteLength : entry.remaining;
  }

  /**
   * Replaces every queued chunk that lives in `shared` (the reactor's read slab) by a copy, before that
   * memory is reused.
   */
  detachFrom(shared: ArrayBufferLike): void {
    for (let i = this.head; i < this.tail; i++) {
      const entry = this.entries[i]!;
      if (entry instanceof Uint8Array && entry.buffer === shared) this.entries[i] = Buffer.from(entry);
    }
  }

  /**
   * Writes as much as the socket takes, adding to `tally`. True when the socket buffer filled up before the queue
   * emptied (wait for EPOLLOUT).
   */
  flush(fd: number, iov: IoVector, tally: FlushTally): boolean {
    while (!this.isEmpty) {
      const first = this.entries[this.head]!;
      let wrote: number;
      tally.calls++;
      if (!(first instanceof Uint8Array)) {
        wrote = sendfileSome(fd, first.fileFd, first.offset, Math.min(first.remaining, 0x7ffff000));
        if (wrote === 0) {
          // The file is shorter than the range asked for: nothing more will come, drop the range.
          this.bytes -= first.remaining;
          this.dropHead();
          continue;
        }
      } else if (this.head + 1 === this.tail || !(this.entries[this.head + 1] instanceof Uint8Array)) {
        wrote = writeSome(fd, first);
      } else {
        iov.clear();
        for (let i = this.head; i < this.tail && iov.length < IOV_MAX; i++) {
          const entry = this.entries[i]!;
          if (!(entry instanceof Uint8Array)) break;
          iov.push(entry);
        }
        wrote = iov.write(fd);
        iov.clear();
      }
      if (wrote < 0) {
        this.compact();
        return true;
      }
      tally.written += wrote;
      this.consume(wrote);
    }
    // Every entry went out: drop the references (the slots stay for the next replies).
    for (let i = 0; i < this.tail; i++) this.entries[i] = undefined;
    this.head = 0;
    this.tail = 0;
    return false;
  }

  /** Drops everything queued, closing file descriptors the queue owns. */
  discard(): void {
    for (let i = this.head; i < this.tail; i++) this.release(this.entries[i]!);
    this.entries = [];
    this.head = 0;
    this.tail = 0;
    this.bytes = 0;
  }

  private consume(count: number): void {
    this.bytes -= count;
    let left = count;
    while (left > 0) {
      const entry = this.entries[this.head]!;
      if (entry instanceof Uint8Array) {
        if (left < entry.byteLength) {
          this.entries[this.head] = entry.subarray(left);
          return;
        }
        left -= entry.byteLength;
        this.head++;
      } else {
        // sendfile already advanced the offset buffer.
        entry.remaining -= left;
        if (entry.remaining > 0) return;
        this.dropHead();
        return;
      }
    }
  }

  private compact(): void {
    if (this.head < 64) return;
    this.entries = this.entries.slice(this.head, this.tail);
    this.tail -= this.head;
    this.head = 0;
  }

  private dropHead(): void {
    this.release(this.entries[this.head]!);
    this.head++;
  }

  private release(entry: Entry): void {
    if (!(entry instanceof Uint8Array) && entry.ownsFd) closeSync(entry.fileFd);
  }
}
