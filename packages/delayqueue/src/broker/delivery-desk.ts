/**
 * Where a broker backend keeps one topic's messages between the broker and the handlers. A message the broker
 * handed over waits here (unacknowledged, so a crash hands it to another consumer) until the queue reserves
 * it; a reserved one is then outstanding until acked, settled by a republish (retry, dead letter) or taken
 * back at its ttr. The broker side is behind {@link DeskEntry}: an AMQP ack, or the completion of a Kafka record.
 *
 * A message that arrives before its due time (routes aim a little early; delays beyond one walk of the levels
 * arrive at its end) is held back: by a local timer when it is due soon, by publishing it again for the rest
 * of its delay when it is not. Nothing is delivered early.
 */
import type { Clock, ClockTimer } from '@x/core';
import { type Delivery, deliveryKey } from '../backend.js';
import type { JobMessage } from './job-message.js';

/** One message handed over by the broker. */
export interface DeskEntry {
  readonly job: JobMessage;
  /** Tells the broker the message is finished with (it will not come back). */
  ack(): void;
  /** Gives the message back to the broker, to be delivered again. */
  release(): void;
  /** False once the broker took the message back on its own (channel closed, partition revoked). */
  live(): boolean;
  /** Where the message came from, when the broker may take back some sources and not others (a partition). */
  readonly source?: string;
}

/** What the desk needs from its backend. */
export interface DeskHost {
  readonly clock: Clock;
  /** Longest a message is held back in memory before it is published again for the rest of its delay, ms. */
  readonly maxHoldMs: number;
  /** Publishes `job` to reach its topic again at its `dueAt` (at once when that has passed); resolves once confirmed. */
  republish(job: JobMessage): Promise<void>;
  /** Publishes `job` as a dead letter of its topic (resolves once confirmed). */
  bury(job: JobMessage, error: string): Promise<void>;
  due(topic: string, count: number): void;
  expired(topic: string, count: number, dead: number): void;
  error(error: unknown): void;
  /** A delivery handed out is no longer this consumer's (see BackendListener.lost). */
  lost(topic: string, id: string, attempt: number, reason: unknown): void;
}

interface Slot {
  readonly entry: DeskEntry;
  timer: ClockTimer | undefined;
  /** When an outstanding delivery's ttr runs out (the clock's monotonic ms). */
  deadline?: number;
}

const RESCAN_MS = 5_000;
/** A ttr timer firing this much after its time means the process stood still. */
const STALL_LATE_MS = 1_000;
/**
 * How long an expiry found after a stall waits for news of the broker having given the message to another
 * consumer meanwhile (a Kafka member learns it has lost its partitions at its next heartbeat, 3-5 s).
 */
const STALL_GRACE_MS = 5_000;

export class DeliveryDesk {
  private readonly ready: Slot[] = [];
  private readonly held = new Set<Slot>();
  private readonly outstanding = new Map<string, Slot>();
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly topic: string,
    private readonly host: DeskHost,
  ) {}

  /** Takes a message from the broker: ready now, held until due, or sent round again when far from due. */
  offer(entry: DeskEntry): void {
    const slot: Slot = { entry, timer: undefined };
    const early = entry.job.dueAt - this.host.clock.wallNow();
    if (early <= 0) return this.makeReady(slot);
    if (early > this.host.maxHoldMs) {
      void this.handBack(slot);
      return;
    }
    this.held.add(slot);
    slot.timer = this.host.clock.setTimer(() => {
      slot.timer = undefined;
      if (this.held.delete(slot)) this.makeReady(slot);
    }, early);
  }

  /** True when a reserve would return something. */
  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** Resolves when messages may be ready, or after a while anyway; rejects only when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.ready.length > 0) return;
    const waiters = this.waiters;
    await new Promise<void>((resolve, reject) => {
      const timer = this.host.clock.setTimer(done, RESCAN_MS);
      function cleanup(): void {
        timer.cancel();
        waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
      }
      function onAbort(): void {
        cleanup();
        reject(signal.reason);
      }
      function done(): void {
        cleanup();
        resolve();
      }
      waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reserves up to `max` ready messages: each is outstanding for its ttr from now. */
  reserve(max: number): Delivery[] {
    const now = this.host.clock.wallNow();
    const deliveries: Delivery[] = [];
    while (deliveries.length < max && this.ready.length > 0) {
      const slot = this.ready.shift()!;
      const { job } = slot.entry;
      if (!slot.entry.live()) continue;
      const key = deliveryKey(job.id, job.attempt);
      if (this.outstanding.has(key)) {
        // The same delivery twice (a duplicate after a crash): the newer copy is redundant.
        slot.entry.ack();
        continue;
      }
      this.outstanding.set(key, slot);
      this.armDeadline(slot, job.ttr);
      deliveries.push({
        id: job.id,
        topic: job.topic,
        payload: job.payload,
        backoff: job.backoff,
        maxAttempts: job.maxAttempts,
        ttr: job.ttr,
        attempt: job.attempt,
        dueAt: job.dueAt,
        lateness: Math.max(0, now - job.dueAt),
        ...(job.trace === undefined ? {} : { trace: job.trace }),
      });
    }
    return deliveries;
  }

  /** Acknowledges a delivery; false when it is no longer outstanding (its ttr ran out, or the broker took it back). */
  ack(id: string, attempt: number): boolean {
    const slot = this.take(id, attempt);
    if (slot === undefined) return false;
    slot.entry.ack();
    return true;
  }

  /**
   * Settles a delivery by publishing what replaces it (a retry, a dead letter), then acknowledging it: a
   * crash in between duplicates the job, never loses it. False when the delivery was no longer outstanding.
   */
  async settle(id: string, attempt: number, replace: (job: JobMessage) => Promise<void>): Promise<boolean> {
    const slot = this.take(id, attempt);
    if (slot === undefined) return false;
    try {
      await replace(slot.entry.job);
    } catch (error) {
      // Not replaced: hand the message back so it is delivered again rather than lost.
      if (slot.entry.live()) slot.entry.release();
      throw error;
    }
    slot.entry.ack();
    return true;
  }

  /** Moves a delivery's deadline to `ttr` ms from now; false when it is no longer outstanding. */
  extend(id: string, attempt: number, ttr: number): boolean {
    const slot = this.outstanding.get(deliveryKey(id, attempt));
    if (slot === undefined || !slot.entry.live()) return false;
    slot.timer?.cancel();
    this.armDeadline(slot, ttr);
    return true;
  }

  /**
   * Hands every buffered or held message back unspent, by publishing it again (then acknowledging it) rather
   * than releasing it: a broker may count a released message as a delivery, and it never ran.
   */
  async handBackUnspent(): Promise<void> {
    const unspent = [...this.ready, ...this.held];
    this.ready.length = 0;
    this.held.clear();
    this.wake();
    await Promise.all(unspent.map((slot) => this.handBack(slot)));
  }

  /**
   * Gives every message not yet reserved (of `sources` only, when given) back to the broker as it is, to be
   * delivered again (a Kafka rebalance may move its partition: whoever owns it next must not find it taken).
   */
  releaseUnspent(sources?: ReadonlySet<string>): void {
    const leaving = (slot: Slot): boolean => sources === undefined || (slot.entry.source !== undefined && sources.has(slot.entry.source));
    const unspent = [...this.ready, ...this.held].filter(leaving);
    if (sources === undefined) this.ready.length = 0;
    else this.ready.splice(0, this.ready.length, ...this.ready.filter((slot) => !leaving(slot)));
    for (const slot of unspent) this.held.delete(slot);
    for (const slot of unspent) {
      slot.timer?.cancel();
      slot.entry.release();
    }
  }

  /** Publishes an unspent message again (for the rest of its delay), then acknowledges it. */
  handBackEntry(entry: DeskEntry): Promise<void> {
    return this.handBack({ entry, timer: undefined });
  }

  /** Forgets what the broker took back on its own (a closed channel, a revoked partition). */
  forgetLost(reason: unknown): void {
    const lost = (slot: Slot): boolean => !slot.entry.live();
    for (const slot of this.held) {
      if (!lost(slot)) continue;
      slot.timer?.cancel();
      this.held.delete(slot);
    }
    for (const [key, slot] of this.outstanding) {
      if (!lost(slot)) continue;
      slot.timer?.cancel();
      this.outstanding.delete(key);
      // Its handler is running: tell it, so it stops before the next owner delivers the job again.
      this.host.lost(this.topic, slot.entry.job.id, slot.entry.job.attempt, reason);
    }
    for (let i = this.ready.length - 1; i >= 0; i--) if (lost(this.ready[i]!)) this.ready.splice(i, 1);
    this.wake();
  }

  /** Drops everything without telling the broker (it takes back what was not acknowledged when the consumer goes). */
  clear(): void {
    for (const slot of [...this.held, ...this.outstanding.values()]) slot.timer?.cancel();
    this.ready.length = 0;
    this.held.clear();
    this.outstanding.clear();
    this.wake();
  }

  private async handBack(slot: Slot): Promise<void> {
    slot.timer?.cancel();
    if (!slot.entry.live()) return;
    try {
      await this.host.republish(slot.entry.job);
      slot.entry.ack();
    } catch (error) {
      this.host.error(error);
      if (slot.entry.live()) slot.entry.release();
    }
  }

  private makeReady(slot: Slot): void {
    this.ready.push(slot);
    this.host.due(this.topic, 1);
    this.wake();
  }

  private armDeadline(slot: Slot, ttr: number): void {
    slot.deadline = this.host.clock.now() + ttr;
    slot.timer = this.host.clock.setTimer(() => this.onDeadline(slot), ttr);
  }

  /**
   * A delivery's ttr ran out. When its timer fired long after its time, the process stood still (SIGSTOP, a
   * frozen VM, a blocked event loop), and the broker may have given the message to another consumer meanwhile,
   * which this consumer learns of only now: the expiry waits a little for that news before it sends a copy for
   * the next attempt. (Seen: a member resumed after a 50 s stop sent copies of the 16 jobs it had been running,
   * which their new owner was running already: each ran a third time.)
   */
  private onDeadline(slot: Slot): void {
    const late = this.host.clock.now() - (slot.deadline ?? 0);
    // Put off once: the deferred timer expires the delivery whatever it finds.
    if (late > STALL_LATE_MS) {
      slot.timer = this.host.clock.setTimer(() => void this.expire(slot), STALL_GRACE_MS);
      return;
    }
    void this.expire(slot);
  }

  private async expire(slot: Slot): Promise<void> {
    const { job } = slot.entry;
    const dead = job.attempt >= job.maxAttempts;
    const reason = `the time to run of ${job.ttr} ms ran out`;
    try {
      const settled = await this.settle(job.id, job.attempt, (current) =>
        dead ? this.host.bury(current, reason) : this.host.republish({ ...current, attempt: current.attempt + 1, dueAt: this.host.clock.wallNow(), lastError: reason }),
      );
      if (settled) this.host.expired(this.topic, 1, dead ? 1 : 0);
    } catch (error) {
      this.host.error(error);
    }
  }

  private take(id: string, attempt: number): Slot | undefined {
    const key = deliveryKey(id, attempt);
    const slot = this.outstanding.get(key);
    if (slot === undefined) return undefined;
    this.outstanding.delete(key);
    slot.timer?.cancel();
    // The broker took it back meanwhile: someone else has it now.
    return slot.entry.live() ? slot : undefined;
  }

  /** Ends every `wait` now (its processor then looks again: takes what is ready, or subscribes again). */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
