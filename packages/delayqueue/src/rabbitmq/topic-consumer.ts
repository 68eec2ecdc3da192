/**
 * This process's consumer of one topic's ready queue. Messages the broker hands over wait in a local buffer
 * (unacknowledged, so a crash hands them to another consumer) until the queue reserves them; a reserved one
 * is then outstanding until acked, settled by a republish (retry, dead letter) or taken back at its ttr.
 *
 * A message that arrives before its due time (the routes aim a little early, see `hopAllowanceMs`; delays
 * beyond the levels' range arrive at the range's end) is held back: by a local timer when it is due soon, by
 * publishing it again for the rest of its delay when it is not. Nothing is delivered early.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Clock, ClockTimer } from '@x/core';
import type { Delivery } from '../backend.js';
import { type JobMessage, readJobMessage } from './message.js';

/** Where a topic consumer sends what it cannot finish alone. */
export interface TopicConsumerHost {
  readonly clock: Clock;
  /** Longest a message is held back in memory before it is published again for the rest of its delay, ms. */
  readonly maxHoldMs: number;
  /** Publishes `job` (its `dueAt` unchanged) to reach its ready queue in about `delay` ms; resolves once confirmed. */
  republish(job: JobMessage, delay: number): Promise<void>;
  /** Publishes `job` to its topic's dead-letter queue (resolves once confirmed). */
  bury(job: JobMessage, error: string): Promise<void>;
  due(topic: string, count: number): void;
  expired(topic: string, count: number, dead: number): void;
  error(error: unknown): void;
}

interface Outstanding {
  readonly message: ConsumeMessage;
  readonly job: JobMessage;
  /** The channel it came on: an ack on any other channel is a protocol error. */
  readonly channel: Channel;
  timer: ClockTimer | undefined;
}

const RESCAN_MS = 5_000;

export class TopicConsumer {
  private channel: Channel | undefined;
  private opening: Promise<void> | undefined;
  private consumerTag: string | undefined;
  private readonly ready: Outstanding[] = [];
  private readonly held = new Set<Outstanding>();
  private readonly outstanding = new Map<string, Outstanding>();
  private readonly waiters = new Set<() => void>();
  private readonly handingBack = new Set<Promise<void>>();
  private stopped = false;
  /** Watches of this topic open in this process. */
  users = 0;

  constructor(
    readonly topic: string,
    private readonly queue: string,
    private readonly prefetch: number,
    private readonly openChannel: () => Promise<Channel>,
    private readonly host: TopicConsumerHost,
  ) {}

  /** Resolves when messages may be ready, or after a while anyway; rejects only when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await this.start();
    if (this.ready.length > 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = this.host.clock.setTimer(done, RESCAN_MS);
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason);
      };
      function cleanup(): void {
        timer.cancel();
        signal.removeEventListener('abort', onAbort);
      }
      const waiters = this.waiters;
      function done(): void {
        cleanup();
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reserves up to `max` ready messages: each is outstanding for its ttr from now. */
  reserve(max: number): Delivery[] {
    const now = this.host.clock.wallNow();
    const taken = this.ready.splice(0, max);
    return taken.map((entry) => {
      const { job } = entry;
      const key = deliveryKey(job.id, job.attempt);
      if (this.outstanding.has(key)) {
        // The same delivery twice (a duplicate after a crash): the newer copy is redundant.
        entry.channel.ack(entry.message);
        return undefined;
      }
      this.outstanding.set(key, entry);
      entry.timer = this.host.clock.setTimer(() => void this.expire(entry), job.ttr);
      return {
        id: job.id,
        topic: job.topic,
        payload: job.payload,
        backoff: job.backoff,
        maxAttempts: job.maxAttempts,
        ttr: job.ttr,
        attempt: job.attempt,
        dueAt: job.dueAt,
        lateness: Math.max(0, now - job.dueAt),
      } satisfies Delivery;
    }).filter((delivery): delivery is Delivery => delivery !== undefined);
  }

  /** Acknowledges a delivery; false when it is no longer outstanding (its ttr ran out, or its channel closed). */
  ack(id: string, attempt: number): boolean {
    const entry = this.take(id, attempt);
    if (entry === undefined) return false;
    entry.channel.ack(entry.message);
    return true;
  }

  /**
   * Settles a delivery by publishing what replaces it (a retry, a dead letter), then acknowledging it: a
   * crash in between duplicates the job, never loses it. False when the delivery was no longer outstanding.
   */
  async settle(id: string, attempt: number, replace: (job: JobMessage) => Promise<void>): Promise<boolean> {
    const entry = this.take(id, attempt);
    if (entry === undefined) return false;
    try {
      await replace(entry.job);
    } catch (error) {
      // Not replaced: hand the message back so it is delivered again rather than lost.
      if (this.channel === entry.channel) entry.channel.nack(entry.message, false, true);
      throw error;
    }
    entry.channel.ack(entry.message);
    return true;
  }

  /** Moves a delivery's deadline to `ttr` ms from now; false when it is no longer outstanding. */
  extend(id: string, attempt: number, ttr: number): boolean {
    const entry = this.outstanding.get(deliveryKey(id, attempt));
    if (entry === undefined) return false;
    entry.timer?.cancel();
    entry.timer = this.host.clock.setTimer(() => void this.expire(entry), ttr);
    return true;
  }

  /**
   * Stops taking messages. Those buffered or held are published again (then acknowledged) rather than handed
   * back: a quorum queue would count a handed-back message as a delivery, and it never ran. Outstanding
   * deliveries stay until close.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.opening?.catch(() => undefined);
    const channel = this.channel;
    const consumerTag = this.consumerTag;
    this.consumerTag = undefined;
    if (channel !== undefined && consumerTag !== undefined) await channel.cancel(consumerTag).catch(() => undefined);
    const unsent = [...this.ready, ...this.held];
    this.ready.length = 0;
    this.held.clear();
    this.wake();
    await Promise.all([...unsent.map((entry) => this.handBack(entry)), ...this.handingBack]);
  }

  /** Publishes an unspent message again (for the rest of its delay), then acknowledges it. */
  private async handBack(entry: Outstanding): Promise<void> {
    entry.timer?.cancel();
    if (entry.channel !== this.channel) return;
    try {
      await this.host.republish(entry.job, Math.max(0, entry.job.dueAt - this.host.clock.wallNow()));
      entry.channel.ack(entry.message);
    } catch (error) {
      this.host.error(error);
      if (entry.channel === this.channel) entry.channel.nack(entry.message, false, true);
    }
  }

  /** Closes the channel: the broker hands every message still unacknowledged to another consumer. */
  async close(): Promise<void> {
    await this.stop();
    for (const entry of this.outstanding.values()) entry.timer?.cancel();
    this.outstanding.clear();
    const channel = this.channel;
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  /** Takes messages again after `stop()` (the next `wait` subscribes). */
  resume(): void {
    this.stopped = false;
  }

  private async start(): Promise<void> {
    if (this.stopped || this.consumerTag !== undefined) return;
    this.opening ??= this.subscribe();
    try {
      await this.opening;
    } finally {
      this.opening = undefined;
    }
  }

  private async subscribe(): Promise<void> {
    let channel = this.channel;
    if (channel === undefined) {
      const opened = await this.openChannel();
      opened.on('error', (error) => this.host.error(error));
      opened.on('close', () => this.lost(opened));
      await opened.prefetch(this.prefetch);
      this.channel = channel = opened;
    }
    const { consumerTag } = await channel.consume(this.queue, (message) => {
      if (message !== null) this.arrive(channel, message);
    });
    this.consumerTag = consumerTag;
  }

  /** The channel closed (by us, the broker or the connection): what came on it is the broker's again. */
  private lost(channel: Channel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    const stale = (entry: Outstanding): boolean => entry.channel === channel;
    for (const entry of this.held) if (stale(entry)) entry.timer?.cancel();
    for (const [key, entry] of this.outstanding) {
      if (!stale(entry)) continue;
      entry.timer?.cancel();
      this.outstanding.delete(key);
    }
    for (let i = this.ready.length - 1; i >= 0; i--) if (stale(this.ready[i]!)) this.ready.splice(i, 1);
    for (const entry of [...this.held]) if (stale(entry)) this.held.delete(entry);
    this.wake();
  }

  private arrive(channel: Channel, message: ConsumeMessage): void {
    const job = readJobMessage(message);
    if (job !== undefined && this.stopped) {
      // Sent before the broker saw our cancel: handed back unspent like the buffered ones.
      const handing = this.handBack({ message, job, channel, timer: undefined });
      this.handingBack.add(handing);
      void handing.finally(() => this.handingBack.delete(handing));
      return;
    }
    if (job === undefined) {
      // Not ours (published by hand, or by another program): dropping it beats redelivering it forever.
      this.host.error(new Error(`dropped a message without delay-queue headers from ${this.queue}`));
      channel.ack(message);
      return;
    }
    const entry: Outstanding = { message, job, channel, timer: undefined };
    const early = job.dueAt - this.host.clock.wallNow();
    if (early <= 0) return this.makeReady(entry);
    if (early > this.host.maxHoldMs) {
      void this.host.republish(job, early).then(
        () => channel.ack(message),
        (error: unknown) => {
          this.host.error(error);
          if (this.channel === channel) channel.nack(message, false, true);
        },
      );
      return;
    }
    this.held.add(entry);
    entry.timer = this.host.clock.setTimer(() => {
      entry.timer = undefined;
      if (this.held.delete(entry)) this.makeReady(entry);
    }, early);
  }

  private makeReady(entry: Outstanding): void {
    this.ready.push(entry);
    this.host.due(this.topic, 1);
    this.wake();
  }

  private async expire(entry: Outstanding): Promise<void> {
    const { job } = entry;
    const dead = job.attempt >= job.maxAttempts;
    const reason = `the time to run of ${job.ttr} ms ran out`;
    try {
      const settled = await this.settle(job.id, job.attempt, (current) =>
        dead ? this.host.bury(current, reason) : this.host.republish({ ...current, attempt: current.attempt + 1, dueAt: this.host.clock.wallNow(), lastError: reason }, 0),
      );
      if (settled) this.host.expired(this.topic, 1, dead ? 1 : 0);
    } catch (error) {
      this.host.error(error);
    }
  }

  private take(id: string, attempt: number): Outstanding | undefined {
    const key = deliveryKey(id, attempt);
    const entry = this.outstanding.get(key);
    if (entry === undefined) return undefined;
    this.outstanding.delete(key);
    entry.timer?.cancel();
    // Its channel closed meanwhile: the broker has already handed the message to someone else.
    return entry.channel === this.channel ? entry : undefined;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

function deliveryKey(id: string, attempt: number): string {
  return `${id}\u0000${attempt}`;
}
