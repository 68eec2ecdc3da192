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
type Field = (typeof STAT_FIELDS)[number];

const FIELD_INDEX = Object.fromEntries(STAT_FIELDS.map((name, i) => [name, i])) as Record<Field, number>;

/** Counters of `reactors` reactors; attach another thread's copy with `{ buffer }`. */
export class ReactorStats {
  readonly counters: PaddedCounters;

  constructor(
    readonly reactors: number,
    buffer?: SharedArrayBuffer,
  ) {
    this.counters = new PaddedCounters(reactors * STAT_FIELDS.length, buffer === undefined ? {} : { buffer });
  }

  get buffer(): SharedArrayBuffer {
    return this.counters.buffer;
  }

  add(reactor: number, field: Field, delta = 1): void {
    this.counters.add(reactor * STAT_FIELDS.length + FIELD_INDEX[field], delta);
  }

  /** One counter of one reactor. */
  get(reactor: number, field: Field): number {
    return this.counters.get(reactor * STAT_FIELDS.length + FIELD_INDEX[field]);
  }

  /** A snapshot of one reactor's counters. */
  read(reactor: number): ReactorCounters {
    const snapshot = {} as ReactorCounters;
    STAT_FIELDS.forEach((name, i) => (snapshot[name] = this.counters.get(reactor * STAT_FIELDS.length + i)));
    return snapshot;
  }
}
