/**
 * The little Redlock needs of a Redis client, so that ioredis and node-redis (the `redis` package) both serve:
 * run a script and open a subscriber. The clients'
 * own types are not imported: a user of one client need not install the other's types.
 */
import type { LuaScript } from './scripts.js';

/** A subscriber connection of one instance, for release announcements. */
export interface Subscriber {
  subscribe(channels: readonly string[]): Promise<unknown>;
  unsubscribe(channels: readonly string[]): Promise<unknown>;
  /** Closes gracefully (waits for the server's answer). */
  close(): Promise<void>;
  /** Drops the connection at once (its server does not answer). */
  destroy(): void;
}

/** One instance's client as Redlock uses it. */
export interface ScriptClient {
  /** `host:port`, or `cluster#i`, for error reports. */
  readonly name: string;
  /** True for a cluster: its replies come from several servers. */
  readonly cluster: boolean;
  /** False while the connection is down (connecting, reconnecting, closed); a cluster says true. */
  connected(): boolean;
  /** Runs a script (cached on the server when it can be) and resolves with its raw reply. */
  run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** Opens a subscriber whose messages go to `onMessage(channel, message)`. */
  openSubscriber(onMessage: (channel: string, message: string) => void): Subscriber;
  /** Removes the listeners this adapter put on the caller's client (the client stays open: it is the caller's). */
  detach(): void;
}

/** How one client sends a script by its source (EVAL) or by its SHA (EVALSHA). */
export interface ScriptCommands {
  /** True while the client's connection is up (a command sent now goes on it). */
  ready(): boolean;
  evalSource(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  evalSha(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

/**
 * Runs scripts EVAL first on each connection, EVALSHA after; `forget` is to be called when the client
 * (re)connects. An EVALSHA answered NOSCRIPT would be sent again as EVAL only after that answer, behind
 * commands sent since, so a release could land after the next acquire of the same process. A script is marked
 * sent at once (later commands queue behind its EVAL), but not while the client is (re)connecting: its 'ready'
 * would clear the mark though this EVAL, queued until then, goes to the new connection.
 */
export function scriptRunner(commands: ScriptCommands): { run: ScriptClient['run']; forget: () => void } {
  // Scripts sent with EVAL on the current connection, so the server has them cached.
  const loaded = new Set<string>();
  return {
    forget: () => loaded.clear(),
    run: async (script, keys, args) => {
      if (!loaded.has(script.sha)) {
        if (commands.ready()) loaded.add(script.sha);
        return commands.evalSource(script, keys, args);
      }
      try {
        return await commands.evalSha(script, keys, args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return commands.evalSource(script, keys, args);
      }
    },
  };
}

/** A client's event methods, as far as {@link onShared} uses them. */
export interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Per client and event: the one listener put on the client, and the listeners it calls. */
const shared = new WeakMap<EventSource, Map<string, { relay: () => void; listeners: Set<() => void> }>>();

/**
 * Calls `listener` on `event` of the caller's client through one listener per client and event, shared by every
 * Redlock on that client: two listeners per Redlock tripped Node's MaxListenersExceededWarning once six Redlocks
 * shared a set of clients. Returns what stops the calls; the shared listener goes when its last user does.
 */
export function onShared(client: EventSource, event: string, listener: () => void): () => void {
  let byEvent = shared.get(client);
  if (byEvent === undefined) shared.set(client, (byEvent = new Map()));
  let entry = byEvent.get(event);
  if (entry === undefined) {
    const listeners = new Set<() => void>();
    entry = { relay: () => [...listeners].forEach((each) => each()), listeners };
    byEvent.set(event, entry);
    client.on(event, entry.relay);
  }
  // A wrapper per call: the same function passed twice is still two registrations, each removed on its own.
  const registration = (): void => listener();
  entry.listeners.add(registration);
  const current = entry;
  return () => {
    current.listeners.delete(registration);
    if (current.listeners.size === 0 && byEvent.get(event) === current) {
      byEvent.delete(event);
      client.off(event, current.relay);
    }
  };
}
