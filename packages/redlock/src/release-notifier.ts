/**
 * Wakes waiting acquirers when a lock is released, instead of leaving them to sleep out their retry delay (as
 * Redisson does; node-redlock and redis-semaphore only poll). The release script publishes on
 * `<prefix><resource>`; a waiter listens on the channels of the resources it wants, on every instance, through
 * one subscriber connection per instance that is opened on first need and shared by all waiters.
 */
import { sleep } from '@x/core';
import type { RedisClient } from './instance.js';

/** A waiter's view: wait until a release is announced or `ms` pass. */
export interface ReleaseListener {
  /** Resolves after `ms`, or earlier when one of the channels announced a release (since the last call, too). */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class ReleaseNotifier {
  private subscribers: RedisClient[] | undefined;
  /** Per channel, the waiters to wake. */
  private readonly wakers = new Map<string, Set<() => void>>();

  constructor(private readonly clients: readonly RedisClient[]) {}

  /** Subscribes to `channels` (resolves once every reachable instance confirmed) and returns a listener. */
  async listen(channels: readonly string[]): Promise<ReleaseListener> {
    let released = false;
    let wake: (() => void) | undefined;
    const onRelease = (): void => {
      released = true;
      wake?.();
    };
    const fresh: string[] = [];
    for (const channel of channels) {
      let set = this.wakers.get(channel);
      if (set === undefined) {
        set = new Set();
        this.wakers.set(channel, set);
        fresh.push(channel);
      }
      set.add(onRelease);
    }
    if (fresh.length > 0) await this.each((subscriber) => subscriber.subscribe(...fresh));
    return {
      next: async (ms, signal) => {
        if (!released) {
          const controller = new AbortController();
          wake = () => controller.abort();
          const onAbort = (): void => controller.abort(signal!.reason);
          signal?.addEventListener('abort', onAbort, { once: true });
          try {
            await sleep(ms, { signal: controller.signal }).catch(() => undefined);
          } finally {
            signal?.removeEventListener('abort', onAbort);
            wake = undefined;
          }
        }
        released = false;
      },
      close: async () => {
        const gone: string[] = [];
        for (const channel of channels) {
          const set = this.wakers.get(channel);
          set?.delete(onRelease);
          if (set?.size === 0) {
            this.wakers.delete(channel);
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
    this.wakers.clear();
    if (subscribers !== undefined) await Promise.all(subscribers.map((s) => s.quit().catch(() => s.disconnect())));
  }

  // Runs `action` on every subscriber; an unreachable instance is skipped (its releases are simply not heard).
  private async each(action: (subscriber: RedisClient) => Promise<unknown>): Promise<void> {
    this.subscribers ??= this.clients.map((client) => this.open(client));
    await Promise.all(this.subscribers.map((subscriber) => withTimeout(action(subscriber), 1_000).catch(() => undefined)));
  }

  private open(client: RedisClient): RedisClient {
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined); // reconnects on its own; a lost release only costs a retry delay
    subscriber.on('message', (channel: string) => {
      for (const wakeOne of this.wakers.get(channel) ?? []) wakeOne();
    });
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
