/**
 * Wakes waiting acquirers when a lock is released, instead of leaving them to sleep out their retry delay (as
 * Redisson does; node-redlock and redis-semaphore only poll). The release script publishes on
 * `<prefix><resource>`; a waiter listens on the channels of the resources it wants, on every instance, through
 * one subscriber connection per instance that is opened on first need and shared by all waiters.
 *
 * A release is announced by every instance that held the lock (five, say): only the first of those
 * announcements counts. Counting the others woke the waiter again after it had lost the race for that very
 * release, and sent it at the lock again at once: across processes, 5.7 failed attempts per lock.
 *
 * An announcement goes to one waiter of this process, the one waiting longest: waking them all would send them
 * at the lock together, split the instances' votes between them and fail them all (a thundering herd). The
 * others keep waiting for the next release, or for their own retry delay. A new acquirer of this process joins
 * the back of the line (see Redlock.acquire), so waiters of one process get the lock in turn.
 *
 * A release that reserved the key for a waiter (the resource's waiting line in Redis, see RELEASE) names it:
 * that waiter wakes if it is one of ours, and nobody else here does (their attempts would find the key
 * reserved and fail). A release's announcements wake a waiter once a majority of instances made the same one:
 * woken by the first, its attempt would reach instances that have not seen the release yet and fail there.
 *
 * A release that hands a waiter the lock itself (see RELEASE) tells only that waiter's process, on the process's
 * own channel, which every instance's subscriber listens on: `<released> <waiter> <attempt> <token> <waited>`. The
 * waiter collects these grants by instance and is woken once a majority granted; it holds the lock if their
 * validity, counted from the start of the attempts they name, has not run out (see Redlock.acquire). When one of
 * this process's waiters got the lock, the next one takes its place in the line at once: the release to come can
 * then hand the lock to it in one round.
 *
 * A release reserved for another process's waiter says that other processes wait in the line: this process's
 * first waiter, if it has not taken its place there yet, is woken to take it now (its attempt is refused, the key
 * being reserved, but it stands in line for the next release). Left to its retry delay, it joined the line up to
 * half a second later, and until then releases found only other processes' waiters there, or none, and were
 * announced to every process at once: their first waiters all asked and split the votes.
 */
import { sleep, within } from '@x/core';
import type { ScriptClient, Subscriber } from './client.js';

/** A waiter's view: wait until a release is announced or `ms` pass. */
export interface ReleaseListener {
  /** True when this waiter is the longest-waiting of this process on one of its channels. */
  isFirst(): boolean;
  /**
   * Resolves after `ms`, or earlier when one of the channels announced a release (since the last call, too);
   * also resolves when `signal` aborts. True when a release was announced.
   */
  next(ms: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Waits for a release announcement, or for `ms` once this listener is first in line on one of its channels:
   * a waiter behind another waiter of this process does not poll Redis on its own timer. The one ahead polls,
   * and every release goes to whoever is first then; polling from all of them would only add failed attempts,
   * which load the very instances the hand-over needs. Resolves early when `signal` aborts.
   */
  turn(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * True when this waiter should take its place in the line with its next attempt, first or not: a release went
   * to another process's waiter while it was not in the line, or the waiter ahead of it here got the lock.
   */
  calledToLine(): boolean;
  /** Says that this waiter's last attempt took its place in the line (in Redis). */
  joinedLine(): void;
  /** The lock handed to this waiter by releases so far, by instance index: the attempt each names, its token. */
  grants(): ReadonlyMap<number, Grant>;
  /** Leaves; `gotLock` when the waiter holds the lock now (the next waiter here then joins the line at once). */
  close(gotLock?: boolean): Promise<void>;
}

/**
 * A release that handed the lock to a waiter on one instance: the waiter's attempt it counted from, the token,
 * and how long after that attempt's arrival the key was set (the instance's clock, ms).
 */
export interface Grant {
  readonly attempt: number;
  readonly token: number;
  readonly waitedMs: number;
}

interface Waiter {
  /** The value the waiter asks for the lock with. */
  readonly value: string;
  /** A release was announced since the waiter last looked. */
  released: boolean;
  /** Set while the waiter sleeps: ends the sleep. */
  wake: (() => void) | undefined;
  /** Its place is in the line in Redis (an attempt joined it). */
  inLine: boolean;
  /** Woken to join the line: other processes' waiters stand in it, or the one ahead of it here got the lock. */
  calledToLine: boolean;
  /** The lock handed to it, by instance index. */
  readonly grants: Map<number, Grant>;
}

/** How long a subscriber connection gets to close gracefully. */
const CLOSE_TIMEOUT_MS = 1_000;

/** How many releases (and gone waiters) are remembered, to count their announcements from the instances. */
const REMEMBERED_RELEASES = 1_024;

/** What the announcements of one release said so far: how many named each waiter ('' for none). */
interface Heard {
  decided: boolean;
  readonly counts: Map<string, number>;
}

export class ReleaseNotifier {
  private subscribers: Subscriber[] | undefined;
  /** Per channel, its waiters, longest waiting first. */
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** The waiters by their values, to wake the one a release reserved the key for. */
  private readonly byValue = new Map<string, Waiter>();
  private closed = false;
  /** The releases heard of, by released value (insertion order = age). */
  private readonly heard = new Map<string, Heard>();
  /**
   * Values of this process's waiters that are gone (they got the lock or gave up), newest last: a release's
   * announcements may name one after it left, and must not then count as naming another process's waiter.
   */
  private readonly gone = new Set<string>();

  /** The hand-over channel is subscribed to on every instance (with the first resource channel). */
  private handOverSubscribed = false;

  constructor(
    private readonly clients: readonly ScriptClient[],
    /** Announcements of one release that decide whom it wakes: a majority of the instances. */
    private readonly quorum: number,
    /** This process's channel: releases that hand one of its waiters the lock say so on it. */
    readonly handOverChannel: string,
  ) {}

  /**
   * Subscribes to `channels` (resolves once every reachable instance confirmed) and returns a listener for the
   * acquirer asking with `value`.
   */
  async listen(channels: readonly string[], value: string): Promise<ReleaseListener> {
    const waiter: Waiter = { value, released: false, wake: undefined, inLine: false, calledToLine: false, grants: new Map() };
    this.byValue.set(value, waiter);
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
    if (!this.handOverSubscribed) {
      this.handOverSubscribed = true;
      fresh.push(this.handOverChannel);
    }
    if (fresh.length > 0) await this.each((subscriber) => subscriber.subscribe(fresh));
    const isFirst = (): boolean => channels.some((channel) => this.waiters.get(channel)?.values().next().value === waiter);
    const listener: ReleaseListener = {
      isFirst,
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
        const announced = waiter.released;
        waiter.released = false;
        return announced;
      },
      turn: async (ms, signal) => {
        while (!(await listener.next(ms, signal)) && !isFirst() && !signal?.aborted && !this.closed);
      },
      calledToLine: () => waiter.calledToLine,
      joinedLine: () => void (waiter.inLine = true),
      grants: () => waiter.grants,
      close: async (gotLock = false) => {
        if (this.byValue.get(value) === waiter) this.byValue.delete(value);
        this.gone.add(value);
        forgetOldest(this.gone);
        const gone: string[] = [];
        for (const channel of channels) {
          const queue = this.waiters.get(channel);
          queue?.delete(waiter);
          if (gotLock) this.callToLine(channel);
          if (queue?.size === 0) {
            this.waiters.delete(channel);
            gone.push(channel);
          }
        }
        if (gone.length > 0 && this.subscribers !== undefined) await this.each((subscriber) => subscriber.unsubscribe(gone));
      },
    };
    return listener;
  }

  /**
   * Announces a release made by this process to its own waiters at once, without waiting for the round trip
   * through Redis pub/sub; the same release's announcements from Redis (carrying `value`) are then ignored.
   */
  releasedLocally(channels: readonly string[], value: string, reservedFor: string | undefined, grants: ReadonlyMap<number, Grant> = new Map()): void {
    if (!this.hasWaiters(channels)) return;
    this.hear(value).decided = true;
    if (reservedFor === undefined) {
      for (const channel of channels) this.announce(channel);
      return;
    }
    const waiter = this.byValue.get(reservedFor);
    if (waiter !== undefined) for (const [index, grant] of grants) waiter.grants.set(index, grant);
    this.wakeReserved(reservedFor, channels);
  }

  /** True when a waiter of this process already listens on one of `channels`. */
  hasWaiters(channels: readonly string[]): boolean {
    return channels.some((channel) => (this.waiters.get(channel)?.size ?? 0) > 0);
  }

  /** Closes the subscriber connections. */
  /**
   * Wakes every waiter (their acquire then sees the Redlock closed) and closes the subscriber connections: a
   * connection whose server does not answer within a second is dropped (a graceful close would wait for it to
   * come back: 71 s with ioredis, for ever with node-redis, seen with one of five instances down).
   */
  async close(): Promise<void> {
    this.closed = true;
    const subscribers = this.subscribers;
    this.subscribers = undefined;
    for (const queue of this.waiters.values()) for (const waiter of queue) waiter.wake?.();
    this.waiters.clear();
    this.byValue.clear();
    if (subscribers !== undefined) {
      await Promise.all(subscribers.map((subscriber) => within(subscriber.close(), CLOSE_TIMEOUT_MS, 'no answer').catch(() => subscriber.destroy())));
    }
  }

  // Every release goes to the longest-waiting waiter, whatever it is doing: asleep, it wakes; busy with an
  // attempt, it takes note and tries again at once if that attempt fails (the attempt may have raced the
  // release on some instances — the later announcements of the same release say when those are done).
  // Waking the next waiter instead would send two of them at the lock together to split its votes.
  private announce(channel: string): void {
    const first = this.waiters.get(channel)?.values().next().value;
    if (first === undefined) return;
    first.released = true;
    first.wake?.();
  }

  // The key was reserved for `value`: wake its waiter if it is ours. Nobody else here could get it now, but when the
  // waiter is another process's, our first waiter on each channel that is not in the line yet is woken to join it.
  private wakeReserved(value: string, channels: readonly string[]): void {
    const waiter = this.byValue.get(value);
    if (waiter !== undefined) {
      waiter.released = true;
      waiter.wake?.();
      return;
    }
    if (this.gone.has(value)) return;
    for (const channel of channels) this.callToLine(channel);
  }

  // The first waiter on `channel`, if it is not in the line yet, is woken to take its place there now.
  private callToLine(channel: string): void {
    const first = this.waiters.get(channel)?.values().next().value;
    if (first === undefined || first.inLine) return;
    first.calledToLine = true;
    first.released = true;
    first.wake?.();
  }

  private hear(value: string): Heard {
    let heard = this.heard.get(value);
    if (heard === undefined) {
      heard = { decided: false, counts: new Map() };
      this.heard.set(value, heard);
      forgetOldest(this.heard);
    }
    return heard;
  }

  // Runs `action` on every subscriber; an unreachable instance is skipped (its releases are simply not heard).
  private async each(action: (subscriber: Subscriber) => Promise<unknown>): Promise<void> {
    this.subscribers ??= this.clients.map((client, index) => client.openSubscriber((channel, message) => this.onMessage(index, channel, message)));
    await Promise.all(this.subscribers.map((subscriber) => within(action(subscriber), 1_000, 'no answer').catch(() => undefined)));
  }

  // The message is the released lock's value, then the waiter the key was reserved for if any: one release, one
  // wake-up, once a majority of instances said the same.
  private onMessage(index: number, channel: string, message: string): void {
    if (channel === this.handOverChannel) {
      this.onHandOver(index, message);
      return;
    }
    const space = message.indexOf(' ');
    const heard = this.hear(space === -1 ? message : message.slice(0, space));
    if (heard.decided) return;
    const reservedFor = space === -1 ? '' : message.slice(space + 1);
    const count = (heard.counts.get(reservedFor) ?? 0) + 1;
    heard.counts.set(reservedFor, count);
    if (count < this.quorum) return;
    heard.decided = true;
    if (reservedFor === '') this.announce(channel);
    else this.wakeReserved(reservedFor, [channel]);
  }

  // `<released> <waiter> <attempt> <token> <waited>` from instance `index`: the lock is the waiter's there. Woken once a
  // majority granted (each instance says so once per release; a later grant to the same waiter replaces it).
  private onHandOver(index: number, message: string): void {
    const [, value, attempt, token, waited] = message.split(' ');
    const waiter = value === undefined ? undefined : this.byValue.get(value);
    if (waiter === undefined) return;
    waiter.grants.set(index, { attempt: Number(attempt), token: Number(token), waitedMs: Number(waited) });
    if (waiter.grants.size < this.quorum) return;
    waiter.released = true;
    waiter.wake?.();
  }
}

/** Drops the oldest entry (insertion order) once more than REMEMBERED_RELEASES are kept. */
function forgetOldest(remembered: Set<string> | Map<string, unknown>): void {
  if (remembered.size > REMEMBERED_RELEASES) remembered.delete(remembered.keys().next().value!);
}
