/**
 * The little Redlock needs of a Redis client, so that ioredis and node-redis (the `redis` package) both serve:
 * run a script, say when the connection is new, read the server's uptime, and open a subscriber. The clients'
 * own types are not imported: a user of one client need not install the other's types.
 */
import type { LuaScript } from './scripts.js';

/** A subscriber connection of one instance, for release announcements. */
export interface Subscriber {
  subscribe(channels: readonly string[]): Promise<unknown>;
  unsubscribe(channels: readonly string[]): Promise<unknown>;
  close(): Promise<void>;
}

/** One instance's client as Redlock uses it. */
export interface ScriptClient {
  /** `host:port`, or `cluster#i`, for error reports. */
  readonly name: string;
  /** Runs a script (cached on the server when it can be) and resolves with its raw reply. */
  run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** The lowest `uptime_in_seconds` of the servers behind this client (a cluster's youngest master). */
  uptimeSeconds(): Promise<number>;
  /** Calls `listener` whenever the client (re)connects; returns what stops that. */
  onReconnect(listener: () => void): () => void;
  /** Opens a subscriber whose messages go to `onMessage(channel, message)`. */
  openSubscriber(onMessage: (channel: string, message: string) => void): Subscriber;
  /** Removes the listeners this adapter put on the caller's client (the client stays open: it is the caller's). */
  detach(): void;
}

/** The `uptime_in_seconds` of an `INFO server` reply. */
export function uptimeOf(info: string): number | undefined {
  const match = /^uptime_in_seconds:(\d+)/m.exec(info);
  return match ? Number(match[1]) : undefined;
}
