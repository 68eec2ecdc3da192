/**
 * The channels a RabbitMQ backend opens on the caller's connection: one with publisher confirms for every
 * write, one for declarations (a refused declaration closes its channel, and must not take in-flight
 * publishes with it). Each is opened on first use and again after it closed.
 */
import { once } from 'node:events';
import { ClosedError, TimeoutError, XError, settlesWithin, within } from '@x/core';
import type { Channel, ConfirmChannel, Options } from 'amqplib';
import { UnroutableJobError } from '../errors.js';

/** What the backend needs of a connection: amqplib's `ChannelModel`, or a recovering one from `connect(url, { recovery })`. */
export interface AmqpConnection {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
}

/** A channel opened lazily and reopened after it closed; `onError` hears why it closed. */
export class LazyChannel<C extends Channel> {
  private opening: Promise<C> | undefined;
  private closing = false;

  constructor(
    private readonly create: () => Promise<C>,
    private readonly onError: (error: unknown) => void,
    /** How long opening may take before it fails with TimeoutError (a broker that stopped answering). */
    private readonly openTimeoutMs: number,
  ) {}

  get(): Promise<C> {
    if (this.closing) return Promise.reject(new ClosedError('the RabbitMQ channel'));
    if (this.opening === undefined) {
      const opening = within(this.create(), this.openTimeoutMs, 'the broker did not open a channel', { ref: false, onLate: (late) => void late.close().catch(() => undefined) }).then((channel) => {
        channel.on('error', (error) => this.onError(error));
        channel.on('close', () => {
          if (this.opening === opening) this.opening = undefined;
        });
        return channel;
      });
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
      this.opening = opening;
    }
    return this.opening;
  }

  /** Drops the channel (it stopped answering): the next get() opens another. Its close is not waited for. */
  discard(): void {
    const opening = this.opening;
    this.opening = undefined;
    void opening?.then((channel) => channel.close()).catch(() => undefined);
  }

  /** Closes the channel; one whose broker does not answer the close within a few seconds is left behind. */
  async close(): Promise<void> {
    this.closing = true;
    const opening = this.opening;
    this.opening = undefined;
    if (opening === undefined) return;
    // Opening it may be what does not answer, as much as closing it.
    await settlesWithin(opening.then((channel) => channel.close()).catch(() => undefined), CLOSE_WAIT_MS, { ref: false });
  }
}

/** How long closing a channel waits for the broker's answer, ms. */
const CLOSE_WAIT_MS = 2_000;

/**
 * Publishes with confirms and `mandatory`: each call resolves once the broker has routed and stored the message,
 * and rejects with UnroutableJobError when no queue took it (the broker returns the message, then confirms it).
 */
export class ConfirmedPublisher {
  private readonly channel: LazyChannel<ConfirmChannel>;
  /** Message ids the broker returned and whose confirm has not come yet (AMQP sends the return first). */
  private readonly returned = new Set<string>();
  /** One wait for 'drain' per channel, shared by every publish that met a full write buffer. */
  private readonly drains = new WeakMap<ConfirmChannel, Promise<void>>();
  /** Publishes waiting for their confirm: since when (performance.now()), and how to fail them. */
  private readonly unconfirmed = new Map<object, { since: number; fail: (error: Error) => void }>();
  /** Looks for confirms overdue, while any is awaited (one timer, not one per message). */
  private overdueCheck: NodeJS.Timeout | undefined;

  constructor(
    connection: AmqpConnection,
    onError: (error: unknown) => void,
    private readonly confirmTimeoutMs: number,
    openTimeoutMs: number,
  ) {
    this.channel = new LazyChannel(async () => {
      const channel = await connection.createConfirmChannel();
      channel.on('return', (message: { properties: { messageId?: unknown } }) => {
        if (typeof message.properties.messageId === 'string') this.returned.add(message.properties.messageId);
      });
      return channel;
    }, onError, openTimeoutMs);
  }

  /** `options.messageId` identifies the message in a return: the job's id. */
  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish & { messageId: string }): Promise<void> {
    const channel = await this.channel.get();
    const id = options.messageId;
    let accepted!: boolean;
    const entry = {};
    const confirmed = new Promise<void>((resolve, reject) => {
      const settle = (outcome: () => void): void => {
        this.unconfirmed.delete(entry);
        outcome();
      };
      this.unconfirmed.set(entry, { since: performance.now(), fail: (error) => settle(() => reject(error)) });
      accepted = channel.publish(exchange, routingKey, body, { ...options, mandatory: true }, (error: unknown) => {
        if (error) settle(() => reject(refusal(error, id)));
        else if (this.returned.delete(id)) settle(() => reject(new UnroutableJobError(id, `exchange "${exchange}", routing key "${routingKey}"`)));
        else settle(resolve);
      });
    });
    this.overdueCheck ??= setInterval(() => this.failOverdue(), Math.min(1_000, this.confirmTimeoutMs / 2)).unref();
    // The client's write buffer is full: wait for it to drain (or the confirm to settle) before writing more.
    if (!accepted) await Promise.race([this.drained(channel), confirmed.catch(() => undefined)]);
    return confirmed;
  }

  private drained(channel: ConfirmChannel): Promise<void> {
    let drain = this.drains.get(channel);
    if (drain === undefined) {
      drain = once(channel, 'drain').then(
        () => undefined,
        () => undefined,
      );
      this.drains.set(channel, drain);
      void drain.then(() => this.drains.delete(channel));
    }
    return drain;
  }

  /**
   * Fails the publishes whose confirm is overdue, and replaces their channel: a broker that stopped confirming on
   * it would leave every later publish, and the channel's close, waiting too.
   */
  private failOverdue(): void {
    const now = performance.now();
    let failed = 0;
    for (const { since, fail } of [...this.unconfirmed.values()]) {
      if (now - since < this.confirmTimeoutMs) continue;
      fail(new TimeoutError(this.confirmTimeoutMs, `the broker did not confirm the job within ${this.confirmTimeoutMs} ms: it may or may not be stored`));
      failed++;
    }
    if (failed > 0) this.channel.discard();
    if (this.unconfirmed.size === 0) {
      clearInterval(this.overdueCheck);
      this.overdueCheck = undefined;
    }
  }

  close(): Promise<void> {
    clearInterval(this.overdueCheck);
    this.overdueCheck = undefined;
    return this.channel.close();
  }
}

/**
 * The broker's refusal as a typed error: amqplib says "message nacked" (the broker could not store it, e.g. its
 * queue was being deleted) or "channel closed" (the confirm was lost with its channel: it may or may not be
 * stored).
 */
function refusal(error: unknown, jobId: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new XError('ERR_BROKER_REFUSED', `the broker did not take job ${jobId}: ${message}`, { cause: error });
}
