/**
 * Keeps one topic's jobs moving: runs the MOVE script when the earliest delayed job (or the earliest ttr
 * deadline) comes due, using a local timer set from the script's answer, and at once when a script published
 * that something earlier was scheduled. An idle topic costs one script every `rescanMs`, a safety net for a
 * wake-up published while this process was disconnected.
 *
 * Several movers (one per process consuming the topic) may run at once: each script is atomic and moves only
 * what is due, so a job is never moved twice or lost.
 */
import { type Clock, type ClockTimer } from '@x/core';
import type { BackendListener } from '../backend.js';
import type { QueueKeys, TopicKeys } from './keys.js';
import { type RedisClient, runScript } from './script-runner.js';
import { MOVE } from './scripts.js';

export class TopicMover {
  private timer: ClockTimer | undefined;
  private running = false;
  /** Redis-clock time of the planned wake-up (Infinity when none). */
  private plannedAt = Infinity;
  /** A deadline learnt while a move was in flight (Infinity when none). */
  private expectedAt = Infinity;
  private again = false;
  private closed = false;
  private readonly keys: string[];

  constructor(
    private readonly client: RedisClient,
    queue: QueueKeys,
    topicKeys: TopicKeys,
    private readonly topic: string,
    private readonly limit: number,
    private readonly rescanMs: number,
    private readonly clock: Clock,
    private readonly listener: BackendListener | undefined,
  ) {
    const t = topicKeys;
    this.keys = [queue.jobs, queue.attempts, queue.readyAt, queue.errors, t.ready, t.reserved, t.dead, t.next, t.signal, queue.paused, ...t.buckets];
  }

  /** Runs a move now (or right after the one in flight). */
  trigger = (): void => {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.run();
  };

  /** Makes sure this mover looks again by `at` (Redis clock), given that the Redis clock reads `now`. */
  expect(at: number, now: number): void {
    if (this.closed || at >= this.plannedAt) return;
    // A move in flight may have read the reserved set before this deadline existed: it plans with it too.
    if (this.running) this.expectedAt = Math.min(this.expectedAt, at);
    else this.sleepUntil(at, now);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
  }

  private async run(): Promise<void> {
    this.running = true;
    do {
      this.again = false;
      try {
        const [moved, expired, buried, nextAt, now] = (await runScript(this.client, MOVE, this.keys, [this.limit, this.topic])) as number[];
        if (moved! > 0) this.listener?.due(this.topic, moved!);
        if (expired! > 0) this.listener?.expired(this.topic, expired!, buried!);
        // A full batch means more may be due already: go again before sleeping.
        if (moved! >= this.limit || expired! >= this.limit) this.again = true;
        else this.sleepUntil(nextAt!, now!);
      } catch (error) {
        if (this.closed) break;
        this.listener?.error(error);
        this.sleepUntil(-1, 0, 1_000);
      }
    } while (this.again && !this.closed);
    this.running = false;
  }

  private sleepUntil(nextAt: number, now: number, fallbackMs = this.rescanMs): void {
    this.timer?.cancel();
    if (this.closed) return;
    if (this.expectedAt < Infinity) {
      nextAt = nextAt < 0 ? this.expectedAt : Math.min(nextAt, this.expectedAt);
      this.expectedAt = Infinity;
    }
    const ms = nextAt < 0 ? fallbackMs : Math.min(Math.max(0, nextAt - now), this.rescanMs);
    this.plannedAt = now + ms;
    // Ref'd like any pending work; the watch that owns this mover cancels it on close.
    this.timer = this.clock.setTimer(this.trigger, ms);
  }
}
