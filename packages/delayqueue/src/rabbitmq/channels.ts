/**
 * The channels a RabbitMQ backend opens on the caller's connection: one with publisher confirms for every
 * write, one for declarations (a refused declaration closes its channel, and must not take in-flight
 * publishes with it). Each is opened on first use and again after it closed.
 */
import { once } from 'node:events';
import { ClosedError, XError } from '@x/core';
import type { Channel, ConfirmChannel, Options } from 'amqplib';

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

/** Publishes with confirms: each call resolves once the broker has taken the message (routed and stored). */
export class ConfirmedPublisher {
  private readonly channel: LazyChannel<ConfirmChannel>;

  constructor(connection: AmqpConnection, onError: (error: unknown) => void) {
    this.channel = new LazyChannel(() => connection.createConfirmChannel(), onError);
  }

  async publish(exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
    const channel = await this.channel.get();
    let accepted!: boolean;
    const confirmed = new Promise<void>((resolve, reject) => {
      accepted = channel.publish(exchange, routingKey, body, options, (error: unknown) => (error ? reject(toError(error)) : resolve()));
    });
    // The client's write buffer is full: wait for it to drain (or the confirm to settle) before writing more.
    if (!accepted) await Promise.race([once(channel, 'drain'), confirmed.catch(() => undefined)]);
    return confirmed;
  }

  close(): Promise<void> {
    return this.channel.close();
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new XError('ERR_BROKER_REFUSED', `the broker refused the message: ${String(error)}`);
}
