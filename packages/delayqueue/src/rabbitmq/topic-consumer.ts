/**
 * This process's consumer of one topic's ready queue: the channel and its subscription. What happens to the
 * messages between the broker and the handlers (buffering, holding early ones, ttr) is the delivery desk's.
 */
import { XError } from '@x/core';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { TopicSource } from '../broker/broker-backend.js';
import { CorruptJobError } from '../errors.js';
import { DeliveryDesk, type DeskEntry, type DeskHost } from '../broker/delivery-desk.js';
import { readJobMessage } from './message.js';

export class TopicConsumer implements TopicSource {
  readonly desk: DeliveryDesk;
  private channel: Channel | undefined;
  private opening: Promise<void> | undefined;
  private consumerTag: string | undefined;
  private readonly handingBack = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    readonly topic: string,
    private readonly queue: string,
    private readonly prefetch: number,
    private readonly openChannel: () => Promise<Channel>,
    private readonly host: DeskHost,
    /** Declares the topic's queue (cached by the backend); `forget` makes the next call declare it again. */
    private readonly declared: { ensure(): Promise<void>; forget(): void },
  ) {
    this.desk = new DeliveryDesk(topic, host);
  }

  /** Resolves when messages may be ready, or after a while anyway; rejects only when `signal` aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await this.start();
    await this.desk.wait(signal);
  }

  /** Stops taking messages and hands back the unspent ones. Outstanding deliveries stay until close. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.opening?.catch(() => undefined);
    const channel = this.channel;
    const consumerTag = this.consumerTag;
    this.consumerTag = undefined;
    if (channel !== undefined && consumerTag !== undefined) await channel.cancel(consumerTag).catch(() => undefined);
    await Promise.all([this.desk.handBackUnspent(), ...this.handingBack]);
  }

  /** Closes the channel: the broker hands every message still unacknowledged to another consumer. */
  async close(): Promise<void> {
    await this.stop();
    this.desk.clear();
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
    await this.declared.ensure();
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
      else this.cancelledByBroker(channel);
    });
    this.consumerTag = consumerTag;
  }

  /**
   * The broker ended the subscription (its queue was deleted, its node failed over). The next `wait` declares
   * the queue again and subscribes; the processor's loop spaces the attempts out if the broker keeps refusing.
   */
  private cancelledByBroker(channel: Channel): void {
    if (this.channel !== channel || this.stopped) return;
    this.consumerTag = undefined;
    this.declared.forget();
    this.host.error(new XError('ERR_CONSUMER_CANCELLED', `the broker cancelled the consumer of ${this.queue}; subscribing again`));
    // The waiting processor subscribes again now rather than at its next rescan.
    this.desk.wake();
  }

  /** The channel closed (by us, the broker or the connection): what came on it is the broker's again. */
  private lost(channel: Channel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    this.desk.forgetLost(new XError('ERR_CHANNEL_CLOSED', `the channel consuming ${this.queue} closed`));
  }

  private arrive(channel: Channel, message: ConsumeMessage): void {
    const job = readJobMessage(message);
    if (job === undefined) {
      // Not ours (published by hand, or by another program): dropping it beats redelivering it forever.
      this.host.error(new CorruptJobError(`dropped a message without delay-queue headers from ${this.queue}`));
      channel.ack(message);
      return;
    }
    const entry: DeskEntry = {
      job,
      ack: () => channel.ack(message),
      release: () => channel.nack(message, false, true),
      live: () => this.channel === channel,
    };
    if (!this.stopped) return this.desk.offer(entry);
    // Sent before the broker saw our cancel: handed back unspent like the buffered ones.
    const handing = this.desk.handBackEntry(entry);
    this.handingBack.add(handing);
    void handing.finally(() => this.handingBack.delete(handing));
  }
}
