/**
 * What one consumer knows about one assigned partition: which offsets it has taken on, which of those are
 * complete, and therefore the offset that is safe to commit (the lowest incomplete one) plus the completed
 * offsets above it for the commit's metadata.
 *
 * Records arrive in offset order (Kafka guarantees it per partition) and complete in any order, so pending
 * offsets sit in an array in arrival order, with a completed flag beside each; the commit point is the first of
 * them not yet complete. (Flags in an array, not a set of offsets: a completion is then an index computation
 * instead of set insertions, lookups and deletions, about a quarter of the time per record.)
 */
import { setMaxListeners } from 'node:events';
import { MapSizeBound, type OffsetMap, decodeOffsetMap, encodeOffsetMap, payloadBytesFor } from './offset-map.js';
import type { HandlerContext } from './record.js';
import { LaneGroup } from './scheduler.js';

/** What to do with a record the fetcher handed over. */
export type Verdict = 'process' | 'skip';

export class PartitionTracker {
  /** Offsets taken on and not yet below the commit point, in arrival (= offset) order. */
  private pending: number[] = [];
  /** 1 where the record at the same index of `pending` is complete. */
  private completed: number[] = [];
  private head = 0;
  /** Completed records at or after `head`. */
  private doneAbove = 0;
  /** What the previous owner's commit metadata says is complete. */
  private readonly completedBefore: OffsetMap | undefined;
  /** Keeps the offset map within the metadata limit (see fits()). */
  private readonly mapSize: MapSizeBound;
  /** Highest offset taken on; -1 before the first. */
  private highest: number;
  /** Commit point when nothing is pending. */
  private floor: number;
  private changed = false;
  /** Lifts the client's pause of this partition (see resumeWhenAtMost, resumeAfter); undefined while not paused. */
  private resume: (() => void) | undefined = undefined;
  /** Incomplete records at or below which a completion lifts the pause; -1 when only its timer does. */
  private resumeBelow = -1;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private readonly controller = new AbortController();
  /** The scheduler lanes of this assignment's records. */
  readonly lanes = new LaneGroup();
  /** The context of every first attempt in this assignment: shared, so a record costs no object for it. */
  readonly firstAttempt: HandlerContext;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The group's committed offset (-1 when there is none). */
    committed: number,
    metadata: string | null | undefined,
    /** The broker's limit on commit metadata, in characters. */
    private readonly metadataLimit: number,
  ) {
    // One signal is shared by every record of the assignment (see ParallelConsumer.invokeTask): as many handlers may listen to it
    // as run at once, which is not the leak Node's default limit of 10 warns about.
    setMaxListeners(0, this.controller.signal);
    this.firstAttempt = Object.freeze({ attempt: 1, signal: this.controller.signal });
    this.floor = committed;
    this.highest = committed - 1;
    this.mapSize = new MapSizeBound(payloadBytesFor(metadataLimit));
    if (committed >= 0) {
      try {
        this.completedBefore = decodeOffsetMap(committed, metadata);
      } catch {
        // Not our format (another client committed): only the offset itself can be trusted.
      }
    }
  }

  /** Decides about a fetched record: process it, or skip it (done before, or already taken on). */
  accept(offset: number): Verdict {
    if (this.floor < 0) {
      // No committed offset: the first record fetched sets the start.
      this.floor = offset;
      this.highest = offset - 1;
    }
    if (offset <= this.highest || offset < this.floor) return 'skip';
    this.highest = offset;
    this.pending.push(offset);
    this.completed.push(0);
    this.mapSize.add(offset);
    if (this.completedBefore?.isComplete(offset) === true) {
      this.complete(offset);
      return 'skip';
    }
    return 'process';
  }

  /** Marks a record complete (handled, or dead-lettered). */
  complete(offset: number): void {
    const index = this.indexOf(offset);
    if (index < 0 || this.completed[index] === 1) return;
    this.changed = true;
    this.mapSize.remove(offset);
    if (index !== this.head) {
      this.completed[index] = 1;
      this.doneAbove++;
    } else {
      this.advanceHead();
    }
    if (this.resume !== undefined && this.incomplete <= this.resumeBelow) this.resumeNow();
  }

  private advanceHead(): void {
    // The lowest pending record finished: the commit point moves past it and past every completed one after it.
    this.head++;
    while (this.doneAbove > 0 && this.head < this.pending.length && this.completed[this.head] === 1) {
      this.doneAbove--;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.completed = this.completed.slice(this.head);
      this.head = 0;
      this.mapSize.forgetBelow(this.commitOffset);
    }
  }

  /** Where `offset` is in `pending` (at or after head), or -1. */
  private indexOf(offset: number): number {
    const pending = this.pending;
    if (this.head >= pending.length) return -1;
    // Offsets are increasing, usually by one (gaps come from compaction and transaction markers), so the
    // offset's distance from the head is its index or an upper bound of it.
    let high = Math.min(pending.length - 1, this.head + (offset - pending[this.head]!));
    // Below the head (already behind the commit point, or never taken on): not pending.
    if (high < this.head) return -1;
    if (pending[high] === offset) return high;
    let low = this.head;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = pending[middle]!;
      if (value === offset) return middle;
      if (value < offset) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /**
   * Whether taking on `offset` (above every offset taken on so far) keeps the offset map within the metadata
   * limit whatever completes meanwhile. Always true while nothing is incomplete: the map is then empty. The map
   * costs a byte per 8-offset block that holds a record still incomplete and a few bytes per long run of
   * completed ones, so the span it can hold depends on where the incomplete records lie: with a 4,096-character
   * limit, any pattern within 24,000 offsets, and a few stragglers with the records in flight above them across
   * millions.
   */
  fits(offset: number): boolean {
    return this.head === this.pending.length || this.mapSize.fits(offset);
  }

  /** The offset to commit: the lowest incomplete one (or one past the highest taken on). -1 when unknown. */
  get commitOffset(): number {
    return this.head < this.pending.length ? this.pending[this.head]! : this.highest + 1;
  }

  /** Records taken on and not complete. */
  get incomplete(): number {
    return this.pending.length - this.head - this.doneAbove;
  }

  /** Completed records above the commit point (what the metadata must carry). */
  get completedAbove(): number {
    return this.doneAbove;
  }

  /** Offset and metadata for a commit, or undefined when nothing changed since the last one. */
  takeCommit(): { offset: number; metadata: string; truncated: boolean } | undefined {
    if (!this.changed || this.floor < 0) return undefined;
    this.changed = false;
    const offset = this.commitOffset;
    // Complete up to the highest completed offset, but for the incomplete ones below it.
    const incomplete: number[] = [];
    let end = offset + 1;
    for (let i = this.head + 1; i < this.pending.length; i++) {
      if (this.completed[i] === 1) end = this.pending[i]! + 1;
      else incomplete.push(this.pending[i]!);
    }
    while (incomplete.length > 0 && incomplete.at(-1)! >= end) incomplete.pop();
    let metadata = encodeOffsetMap(offset, incomplete, end);
    let truncated = false;
    // Too long for the broker (only a partition that could not pause gets here): describe less of the span,
    // ending it at an incomplete offset; what is left out runs again after a restart (repeated, never lost).
    while (metadata.length > this.metadataLimit) {
      const keep = Math.floor(incomplete.length / 2);
      end = keep < incomplete.length ? incomplete[keep]! : offset + 1;
      incomplete.length = keep;
      metadata = encodeOffsetMap(offset, incomplete, end);
      truncated = true;
    }
    return { offset, metadata, truncated };
  }

  /** Aborted when this assignment of the partition ends (revoked, or the consumer closed past its deadline). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Wall-clock ms before which none of its records starts (see `handoverGraceMs`). */
  handoverUntil = 0;

  /**
   * True once this assignment ended: completions must no longer count. A field, not the signal's `aborted`
   * getter: it is read twice per record.
   */
  revoked = false;

  /**
   * The group is taking the partition away and waits for this member to let go (see ParallelConsumer's
   * release): a handler failing now gives its record back to the next owner instead of using an attempt.
   */
  leaving = false;

  /** Ends this assignment: handlers still running see their signal abort with `reason`. */
  revoke(reason: unknown): void {
    this.revoked = true;
    // A later assignment of the partition must not find it paused.
    this.resumeNow();
    this.controller.abort(reason);
  }

  /**
   * Holds `resume` (what lifts a client pause of this partition) until the incomplete records fall to
   * `incompleteAtMost`, or the assignment ends. Event-driven, from complete(): a timer per paused partition
   * would tick for as long as a partition of long waits stays full.
   */
  resumeWhenAtMost(incompleteAtMost: number, resume: () => void): void {
    this.resumeBelow = incompleteAtMost;
    this.resume = resume;
    if (this.revoked || this.incomplete <= incompleteAtMost) this.resumeNow();
  }

  /**
   * Holds `resume` for `ms` (a record not due before then), or until the assignment ends. Timers wait at most
   * 2^31-1 ms: a longer wait resumes early, and the record fetched again pauses its partition again.
   */
  resumeAfter(ms: number, resume: () => void): void {
    this.resume = resume;
    // Completions of the records before it do not make the record due.
    this.resumeBelow = -1;
    this.resumeTimer = setTimeout(() => this.resumeNow(), Math.min(ms, 2 ** 31 - 1));
  }

  /**
   * Holds `resume` until {@link resumePaused} is called (room in the consumer's buffer) or the assignment ends.
   */
  resumeWhenCalled(resume: () => void): void {
    this.resume = resume;
    this.resumeBelow = -1;
    if (this.revoked) this.resumeNow();
  }

  /** Lifts the client's pause now, if the partition is paused. */
  resumePaused(): void {
    this.resumeNow();
  }

  /** Forgets a pause without lifting it (the consumer is leaving): its timer no longer keeps the process alive. */
  forgetPause(): void {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.resume = undefined;
  }

  /** Whether this partition is paused (for its share of the buffer, or until a record is due). */
  get paused(): boolean {
    return this.resume !== undefined;
  }

  private resumeNow(): void {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** Re-marks this partition as changed (a commit failed and must be retried). */
  markChanged(): void {
    this.changed = true;
  }
}
