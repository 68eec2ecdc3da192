/**
 * One Redis master as Redlock sees it: scripts run with a timeout of their own (the caller's client may queue
 * commands forever while disconnected), failures classified, and the instance's clock watched. (The
 * delayed-restart rule is checked by the acquire script itself: see RESTART_GUARD in scripts.ts.)
 */
import type { Clock } from '@x/core';
import type { ScriptClient } from './client.js';
import type { InstanceFailure, InstanceFailureReason } from './errors.js';
import { type IoredisLike, ioredisClient, isIoredis } from './ioredis-client.js';
import {
  type NodeRedisClientLike,
  type NodeRedisClusterLike,
  isNodeRedisClient,
  isNodeRedisCluster,
  nodeRedisClient,
  nodeRedisCluster,
} from './node-redis-client.js';
import type { LuaScript } from './scripts.js';
import { ClockWatch } from './clock-watch.js';

/**
 * What a Redlock instance accepts: an ioredis (v5, v6) `Redis` or `Cluster`, or a connected node-redis (the
 * `redis` package, v4 to v6) client or cluster. A cluster counts as one vote.
 */
export type RedisClient = IoredisLike | NodeRedisClientLike | NodeRedisClusterLike;

/** The client's adapter, or undefined when it is none of the kinds {@link RedisClient} names. */
export function scriptClientOf(client: unknown, index: number): ScriptClient | undefined {
  if (isIoredis(client)) return ioredisClient(client, index);
  if (isNodeRedisCluster(client)) return nodeRedisCluster(client, index);
  if (isNodeRedisClient(client)) return nodeRedisClient(client, index);
  return undefined;
}

/** A script's outcome on one instance. */
export type InstanceResult<T> = { ok: true; value: T } | { ok: false; failure: InstanceFailure };

/** What `Instance.run` checks besides running the script. */
export interface RunChecks {
  /**
   * The script answers `[instance time ms, ...reply]` (a vote): the time is watched, the rest parsed, and a
   * positive vote of an instance whose clock runs fast becomes a 'clock' failure.
   */
  clock?: boolean;
}

export class Instance {
  readonly name: string;
  /** Undefined for a cluster: its replies come from several servers, each with a clock of its own. */
  private readonly clockWatch: ClockWatch | undefined;

  constructor(
    readonly client: ScriptClient,
    private readonly clock: Clock,
    /** Clock rate above 1 still taken as keeping time (the drift factor). */
    clockAllowance: number,
  ) {
    this.name = client.name;
    this.clockWatch = client.cluster ? undefined : new ClockWatch(clockAllowance);
  }

  /** False while this instance's clock is seen running fast: its keys expire early, so its votes do not count. */
  get keepsTime(): boolean {
    return this.clockWatch?.fast === undefined;
  }

  /** Stops listening to the client (the client itself belongs to the caller). */
  detach(): void {
    this.client.detach();
  }

  /**
   * Runs `script` and maps its reply with `parse`, or reports why it could not. Never rejects; the round's
   * timeout is applied by the caller (gather), so a request costs no timer of its own.
   */
  async run<T>(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    parse: (reply: unknown) => InstanceResult<T>,
    checks: RunChecks = {},
  ): Promise<InstanceResult<T>> {
    try {
      if (checks.clock !== true) return parse(await this.client.run(script, keys, args));
      const sentAt = this.clock.now();
      const reply = await this.client.run(script, keys, args);
      if (!Array.isArray(reply) || typeof reply[0] !== 'number') return this.fail('error', `unexpected reply ${JSON.stringify(reply)}`);
      this.clockWatch?.observe(sentAt, this.clock.now(), reply[0]);
      const result = parse(reply.slice(1));
      const fast = this.clockWatch?.fast;
      if (!result.ok || fast === undefined) return result;
      return this.fail('clock', `its clock runs ${fast.toFixed(2)} times as fast as this process's: its keys expire early, so its vote does not count`);
    } catch (error) {
      return this.fail(classify(error), error instanceof Error ? error.message : String(error));
    }
  }

  fail(reason: InstanceFailureReason, message: string): { ok: false; failure: InstanceFailure } {
    return { ok: false, failure: { instance: this.name, reason, message } };
  }

  /**
   * No answer in time: `unavailable` when the client's connection is down (a server that is gone is then not
   * reported as merely slow), else `timeout`.
   */
  unanswered(message: string): { ok: false; failure: InstanceFailure } {
    return this.client.connected() ? this.fail('timeout', message) : this.fail('unavailable', `${message} (the connection is down)`);
  }
}

function classify(error: unknown): InstanceFailureReason {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('CROSSSLOT')) return 'crossslot';
  // ioredis's and node-redis's words for a connection that is down.
  if (/ECONNREFUSED|Connection is closed|ECONNRESET|EPIPE|max retries|Stream isn't writeable|ETIMEDOUT|client is (closed|offline)|Socket closed|root nodes are unavailable/i.test(message)) return 'unavailable';
  return 'error';
}
