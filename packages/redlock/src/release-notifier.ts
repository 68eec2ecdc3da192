/**
 * Wakes waiting acquirers when a lock is released, instead of leaving them to sleep out their retry delay (as
 * Redisson does; node-redlock and redis-semaphore only poll). The release script publishes on
 * `<prefix><resource>`; a waiter listens on the channels of the resources it wants, on every instance, through
 * one subscriber connection per instance that is opened on first need and shared by all waiters.
 *
 * One announcement wakes one waiter of this process, the one waiting longest: waking them all would send them
 * at the lock together, split the instances' votes between them and fail them all (a thundering herd). The
 * others keep waiting for the next release, or for their own retry delay.
 */
import { sleep } from '@x/core';
import type { RedisClient } from './instance.js';

/** A waiter's view: wait until a release is announced or `ms` pass. */
export interface ReleaseListener {
  /** Resolves after `ms`, or earlier when one of the channels announced a release (since the last call, too). */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

interface Waiter {
  /** A release was announced since the waiter last looked. */
  released: boolean;
  /** Set while the waiter sleeps: ends the sleep. */
  wake: (() => void) | undefined;
}

export class ReleaseNotifier {
  private subscribers: RedisClient[] | undefined;
  /** Per channel, its waiters, longest waiting first. */
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(private readonly clients: readonly RedisClient[]) {}

  /** Subscribes to `channels` (resolves once every reachable instance confirmed) and returns a listener. */
  async listen(channels: readonly string[]): Promise<ReleaseListener> {
    const waiter: Waiter = { released: false, wake: undefined };
    const fresh: string[] = [];
    for (const channel of channels) {
      let queue = this.waiters.get(channel);
      if (queue === undefined) {
        queue = new Set();
        this.waiters.set(channel, queue);
        fresh.push(channel);
      }
      queue.add(waiter);
    }
    if (fresh.length > 0) await this.each((subscriber) => subscriber.subscribe(...fresh));
    return {
      next: async (ms, signal) => {
        if (!waiter.released) {
          const controller = new AbortController();
          waiter.wake = () => controller.abort();
          const onAbort = (): void => controller.abort(signal!.reason);
          signal?.addEventListener('abort', onAbort, { once: true });
          try {
            await sleep(ms, { signal: controller.signal }).catch(() => undefined);
          } finally {
            signal?.removeEventListener('abort', onAbort);
            waiter.wake = undefined;
          }
        }
        waiter.released = false;
      },
      close: async () => {
        const gone: string[] = [];
        for (const channel of channels) {
          const queue = this.waiters.get(channel);
          queue?.delete(waiter);
          if (queue?.size === 0) {
            this.waiters.delete(channel);
            gone.push(channel);
          }
        }
        if (gone.length > 0 && this.subscribers !== undefined) await this.each((subscriber) => subscriber.unsubscribe(...gone));
      },
    };
  }

  /** Closes the subscriber connections. */
  async close(): Promise<void> {
    const subscribers = this.subscribers;
    this.subscribers = undefined;
    this.waiters.clear();
    if (subscribers !== undefined) await Promise.all(subscribers.map((s) => s.quit().catch(() => s.disconnect())));
  }

  // Wakes the longest-waiting waiter that is asleep; with none asleep, the longest-waiting one takes note. Every
  // instance announces the same release, so a waiter already woken or noted is not woken twice.
  private announce(channel: string): void {
    const queue = this.waiters.get(channel);
    if (queue === undefined) return;
    for (const waiter of queue) {
      if (waiter.released) return;
      if (waiter.wake !== undefined) {
        waiter.released = true;
        waiter.wake();
        return;
      }
    }
    const first = queue.values().next().value;
    if (first !== undefined) first.released = true;
  }

  // Runs `action` on every subscriber; an unreachable instance is skipped (its releases are simply not heard).
  private async each(action: (subscriber: RedisClient) => Promise<unknown>): Promise<void> {
    this.subscribers ??= this.clients.map((client) => this.open(client));
    await Promise.all(this.subscribers.map((subscriber) => withTimeout(action(subscriber), 1_000).catch(() => undefined)));
  }

  private open(client: RedisClient): RedisClient {
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined); // reconnects on its own; a lost release only costs a retry delay
    subscriber.on('message', (channel: string) => this.announce(channel));
    return subscriber;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
