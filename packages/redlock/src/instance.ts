/**
 * One Redis master as Redlock sees it: scripts run with a timeout of their own (the caller's client may queue
 * commands forever while disconnected), failures classified, and the delayed-restart rule applied.
 */
import type { Cluster, Redis } from 'ioredis';
import { type Clock, XError } from '@x/core';
import type { InstanceFailure, InstanceFailureReason } from './errors.js';
import type { LuaScript } from './scripts.js';

/** What a Redlock instance accepts: a standalone client or a Cluster (which counts as one vote). */
export type RedisClient = Redis | Cluster;

/** A script's outcome on one instance. */
export type InstanceResult<T> = { ok: true; value: T } | { ok: false; failure: InstanceFailure };

export class Instance {
  readonly name: string;
  /** Clock time from which this instance's votes count (the delayed-restart rule). */
  private eligibleAt = -Infinity;
  /** Set when the uptime must be (re)read: at first use and after every reconnect. */
  private uptimeUnknown = true;
  /** Scripts sent with EVAL on the current connection, so the server has them cached. */
  private readonly loaded = new Set<string>();
  private readonly onReady = (): void => {
    this.uptimeUnknown = true;
    this.loaded.clear();
  };

  constructor(
    readonly client: RedisClient,
    index: number,
    private readonly clock: Clock,
    /** Votes of an instance up for less than this many ms do not count; 0 turns the rule off. */
    private readonly restartGuardMs: number,
  ) {
    this.name = describeClient(client, index);
    client.on('ready', this.onReady);
  }

  /** Stops listening to the client (the client itself belongs to the caller). */
  detach(): void {
    this.client.off('ready', this.onReady);
  }

  /**
   * Runs `script` and maps its reply with `parse`, or reports why it could not. Never rejects; the round's
   * timeout is applied by the caller (gather), so a request costs no timer of its own.
   * With `checkRestart`, an instance that restarted less than the guard ago answers 'restarting'.
   */
  async run<T>(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    parse: (reply: unknown) => InstanceResult<T>,
    checkRestart = false,
  ): Promise<InstanceResult<T>> {
    try {
      if (checkRestart && this.restartGuardMs > 0) {
        if (this.uptimeUnknown) await this.readUptime();
        if (this.clock.now() < this.eligibleAt) {
          const wait = Math.ceil((this.eligibleAt - this.clock.now()) / 1000);
          return this.fail('restarting', `restarted recently; its vote counts in about ${wait} s`);
        }
      }
      return parse(await this.evaluate(script, keys, args));
    } catch (error) {
      return this.fail(classify(error), error instanceof Error ? error.message : String(error));
    }
  }

  fail(reason: InstanceFailureReason, message: string): { ok: false; failure: InstanceFailure } {
    return { ok: false, failure: { instance: this.name, reason, message } };
  }

  private async evaluate(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!this.loaded.has(script.sha)) {
      // First use on this connection: EVAL, which also caches the script. An EVALSHA answered NOSCRIPT would be
      // sent again as EVAL only after that answer, behind commands sent since, so a release could land after
      // the next acquire of the same process. Marked at once: later commands queue behind this one. Not marked
      // while the client is (re)connecting: its 'ready' would clear the mark though this EVAL, queued until
      // then, goes to the new connection.
      if (this.client.status === 'ready') this.loaded.add(script.sha);
      return this.client.eval(script.source, keys.length, ...keys, ...args);
    }
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  private async readUptime(): Promise<void> {
    const uptimeMs = (await this.uptimeSeconds()) * 1000;
    this.eligibleAt = this.clock.now() + Math.max(0, this.restartGuardMs - uptimeMs);
    this.uptimeUnknown = false;
  }

  private async uptimeSeconds(): Promise<number> {
    if ('nodes' in this.client) {
      // A Cluster is one vote; its youngest master decides, since any of them may have lost keys.
      const infos = await Promise.all(this.client.nodes('master').map((node) => node.info('server')));
      if (infos.length === 0) throw new XError('ERR_UNEXPECTED_REPLY', 'the cluster has no master');
      return Math.min(...infos.map(uptimeOf));
    }
    return uptimeOf(await this.client.info('server'));
  }
}

function uptimeOf(info: string): number {
  const match = /^uptime_in_seconds:(\d+)/m.exec(info);
  if (!match) throw new XError('ERR_UNEXPECTED_REPLY', 'INFO server has no uptime_in_seconds');
  return Number(match[1]);
}

function classify(error: unknown): InstanceFailureReason {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('CROSSSLOT')) return 'crossslot';
  if (/ECONNREFUSED|Connection is closed|ECONNRESET|EPIPE|max retries|Stream isn't writeable|ETIMEDOUT/i.test(message)) return 'unavailable';
  return 'error';
}

function describeClient(client: RedisClient, index: number): string {
  if ('nodes' in client) return `cluster#${index}`;
  const { host, port } = client.options;
  return host !== undefined && port !== undefined ? `${host}:${port}` : `#${index}`;
}
