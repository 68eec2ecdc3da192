/**
 * Per-reactor counters in shared memory: each reactor thread writes only its own counters, each counter sits on
 * its own cache line (core's PaddedCounters), and the main thread reads them all without a message round trip.
 */
import { PaddedCounters } from '@x/core';

/** The counters every reactor keeps. */
export const STAT_FIELDS = [
  'accepted',
  'open',
  'closed',
  'bytesRead',
  'bytesWritten',
  'readCalls',
  'writeCalls',
  'turns',
  'readPauses',
  'idleClosed',
  'handlerErrors',
  /** Times accepting paused because the process ran out of file descriptors. */
  'acceptPauses',
  /** Bytes read after end() (or a graceful shutdown) and dropped: the handler no longer receives them. */
  'bytesDiscarded',
  /**
   * A level, not a count: bytes queued on connections whose socket buffer is full (their peer reads slower than
   * the handler writes), as of the reactor's last publish.
   */
  'queuedBytes',
] as const;
/** One reactor's counters. */
export type ReactorCounters = Record<(typeof STAT_FIELDS)[number], number>;

/** The counters every UDP reactor keeps. */
export const UDP_STAT_FIELDS = [
  'received',
  'bytesReceived',
  'receiveCalls',
  'sent',
  'bytesSent',
  'sendCalls',
  /** Datagrams longer than `maxMessageSize`: not delivered. */
  'truncated',
  /** Datagrams `send` dropped because the send queue was full. */
  'sendDropped',
  /** Datagrams the kernel refused to send (e.g. no route to the peer). */
  'sendErrors',
  'handlerErrors',
  'turns',
] as const;
/** One UDP reactor's counters. */
export type UdpCounters = Record<(typeof UDP_STAT_FIELDS)[number], number>;

/** Counters of `reactors` reactors, named by `fields`; attach another thread's copy with `buffer`. */
class CounterTable<F extends string> {
  readonly counters: PaddedCounters;
  private readonly index: Record<F, number>;

  constructor(
    private readonly fields: readonly F[],
    readonly reactors: number,
    buffer?: SharedArrayBuffer,
  ) {
    this.counters = new PaddedCounters(reactors * fields.length, buffer === undefined ? {} : { buffer });
    this.index = Object.fromEntries(fields.map((name, i) => [name, i])) as Record<F, number>;
  }

  get buffer(): SharedArrayBuffer {
    return this.counters.buffer;
  }

  add(reactor: number, field: F, delta = 1): void {
    this.counters.add(reactor * this.fields.length + this.index[field], delta);
  }

  /**
   * Adds to `reactor`'s shared counters what its private `counts` gained since `published`, and brings
   * `published` up to date: a reactor counts in plain fields and publishes once per turn.
   */
  publish(reactor: number, counts: Record<F, number>, published: Record<F, number>): void {
    for (const name of this.fields) {
      const value = counts[name];
      if (value !== published[name]) {
        this.add(reactor, name, value - published[name]);
        published[name] = value;
      }
    }
  }

  /** One counter of one reactor. */
  get(reactor: number, field: F): number {
    return this.counters.get(reactor * this.fields.length + this.index[field]);
  }

  /** A snapshot of one reactor's counters. */
  read(reactor: number): Record<F, number> {
    const snapshot = {} as Record<F, number>;
    this.fields.forEach((name, i) => (snapshot[name] = this.counters.get(reactor * this.fields.length + i)));
    return snapshot;
  }

  /** Every reactor's counters added up. */
  total(): Record<F, number> {
    const sum = this.read(0);
    for (let id = 1; id < this.reactors; id++) {
      const counters = this.read(id);
      for (const key of this.fields) sum[key] += counters[key];
    }
    return sum;
  }
}

/** TCP reactors' counters (see {@link STAT_FIELDS}). */
export class ReactorStats extends CounterTable<(typeof STAT_FIELDS)[number]> {
  constructor(reactors: number, buffer?: SharedArrayBuffer) {
    super(STAT_FIELDS, reactors, buffer);
  }

  /**
   * Reactor `id`'s thread ended and its server closed what it left open: its connections count as closed and
   * nothing of it stays queued. Called on the main thread once that thread is gone (nobody else writes them).
   */
  closeAllOf(id: number): void {
    const open = this.get(id, 'open');
    this.add(id, 'open', -open);
    this.add(id, 'closed', open);
    this.add(id, 'queuedBytes', -this.get(id, 'queuedBytes'));
  }
}

/** UDP reactors' counters (see {@link UDP_STAT_FIELDS}). */
export class UdpStats extends CounterTable<(typeof UDP_STAT_FIELDS)[number]> {
  constructor(reactors: number, buffer?: SharedArrayBuffer) {
    super(UDP_STAT_FIELDS, reactors, buffer);
  }
}
