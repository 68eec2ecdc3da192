/**
 * The channels a RabbitMQ backend opens on the caller's connection: one with publisher confirms for every
 * write, one for declarations (a refused declaration closes its channel, and must not take in-flight
 * publishes with it). Each is opened on first use and again after it closed.
 */
import { once } from 'node:events';
import { ClosedError, XError } from '@x/core';
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
  ) {}

  get(): Promise<C> {
    if (this.closing) return Promise.reject(new ClosedError('the RabbitMQ channel'));
    if (this.opening === undefined) {
      const opening = this.create().then((channel) => {
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

  async close(): Promise<void> {
    this.closing = true;
    const opening = this.opening;
    this.opening = undefined;
    const channel = await opening?.catch(() => undefined);
    await channel?.close().catch(() => undefined);
  }
}

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

  constructor(connection: AmqpConnection, onError: (error: unknown) => void) {
    this.channel = new LazyChannel(async () => {
      const channel = await connection.createConfirmChannel();
      channel.on('return', (message: { properties: { messageId?: unknown } }) => {
        if (typeof message.properties.messageId === 'string') this.returned.add(message.properties.messageId);
      });
      return channel;
    }, onError);
  }

  /** `options.messageId` identifies the message in a return: the job's id. */
  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish & { messageId: string }): Promise<void> {
    const channel = await this.channel.get();
    const id = options.messageId;
    let accepted!: boolean;
    const confirmed = new Promise<void>((resolve, reject) => {
      accepted = channel.publish(exchange, routingKey, body, { ...options, mandatory: true }, (error: unknown) => {
        if (error) reject(toError(error));
        else if (this.returned.delete(id)) reject(new UnroutableJobError(id, `exchange "${exchange}", routing key "${routingKey}"`));
        else resolve();
      });
    });
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

  close(): Promise<void> {
    return this.channel.close();
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new XError('ERR_BROKER_REFUSED', `the broker refused the message: ${String(error)}`);
}
