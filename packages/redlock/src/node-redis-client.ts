/**
 * node-redis (the `redis` package, v4 to v6) clients and clusters as a {@link ScriptClient}. Commands go through
 * `sendCommand`, which every one of those versions has, so no typed command API is relied on.
 */
import { type ScriptClient, type Subscriber, onShared, scriptRunner } from './client.js';

type Listener = (message: string, channel: string) => void;

/** What node-redis clients and clusters have alike, of what Redlock uses: a connection's life and pub/sub. */
interface NodeRedisConnectionLike {
  connect(): Promise<unknown>;
  subscribe(channels: string[], listener: Listener): Promise<unknown>;
  unsubscribe(channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** v5 and later; v4 has quit() only. */
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  /** v5 and later; v4 has disconnect() only. */
  destroy?(): void;
  disconnect?(): Promise<unknown>;
}

/** The part of a node-redis client (`createClient`, connected) Redlock uses. */
export interface NodeRedisClientLike extends NodeRedisConnectionLike {
  readonly isReady: boolean;
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): NodeRedisClientLike;
}

/** The part of a node-redis cluster (`createCluster`, connected) Redlock uses; it counts as one vote. */
export interface NodeRedisClusterLike extends NodeRedisConnectionLike {
  readonly masters: readonly object[];
  nodeClient(node: never): Promise<NodeRedisClientLike> | NodeRedisClientLike;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  duplicate(): NodeRedisClusterLike;
}

export function isNodeRedisCluster(client: unknown): client is NodeRedisClusterLike {
  const c = client as NodeRedisClusterLike | null;
  return typeof c?.sendCommand === 'function' && typeof c.nodeClient === 'function' && Array.isArray(c.masters);
}

export function isNodeRedisClient(client: unknown): client is NodeRedisClientLike {
  const c = client as NodeRedisClientLike | null;
  return typeof c?.sendCommand === 'function' && typeof c.duplicate === 'function' && typeof c.isReady === 'boolean' && !isNodeRedisCluster(client);
}

const commandOf = (name: string, script: string, keys: readonly string[], args: readonly (string | number)[]): string[] => [
  name,
  script,
  String(keys.length),
  ...keys,
  ...args.map(String),
];

export function nodeRedisClient(client: NodeRedisClientLike, index: number): ScriptClient {
  const { run, forget } = scriptRunner({
    ready: () => client.isReady,
    evalSource: (script, keys, args) => client.sendCommand(commandOf('EVAL', script.source, keys, args)),
    evalSha: (script, keys, args) => client.sendCommand(commandOf('EVALSHA', script.sha, keys, args)),
  });
  const stopForgetting = onShared(client, 'ready', forget);
  return {
    name: addressOf((client as { options?: NodeRedisOptions }).options) ?? `#${index}`,
    cluster: false,
    connected: () => client.isReady,
    run,
    openSubscriber: (onMessage) => subscriberOf(client.duplicate(), onMessage),
    detach: stopForgetting,
  };
}

/** The options of a node-redis client, read loosely (they differ across its versions). */
interface NodeRedisOptions {
  url?: string;
  socket?: { host?: string; port?: number; path?: string };
}

/**
 * `host:port` of a node-redis client, with the client's defaults (localhost, 6379) where it was given none, from
 * its URL when it was made from one; undefined for a Unix socket or options it does not show.
 */
function addressOf(options: NodeRedisOptions | undefined): string | undefined {
  if (options === undefined || options.socket?.path !== undefined) return undefined;
  if (options.url !== undefined) {
    try {
      const url = new URL(options.url);
      return `${url.hostname || 'localhost'}:${url.port || '6379'}`;
    } catch {
      return undefined;
    }
  }
  return `${options.socket?.host ?? 'localhost'}:${options.socket?.port ?? 6379}`;
}

export function nodeRedisCluster(cluster: NodeRedisClusterLike, index: number): ScriptClient {
  return {
    name: `cluster#${index}`,
    cluster: true,
    connected: () => true,
    // Always EVAL: the cluster spreads commands over connections to several nodes, each of which may be new,
    // and an EVALSHA answered NOSCRIPT would be sent again behind later commands (see ioredis-client.ts).
    run: (script, keys, args) => cluster.sendCommand(keys[0], false, commandOf('EVAL', script.source, keys, args)),
    openSubscriber: (onMessage) => subscriberOf(cluster.duplicate(), onMessage),
    detach: () => undefined,
  };
}

/** A duplicate connection used for SUBSCRIBE only, connected on first use. */
function subscriberOf(connection: NodeRedisConnectionLike, onMessage: (channel: string, message: string) => void): Subscriber {
  connection.on('error', () => undefined); // reconnects on its own; a lost release only costs a retry delay
  const listener: Listener = (message, channel) => onMessage(channel, message);
  let connected: Promise<unknown> | undefined;
  const ready = (): Promise<unknown> => (connected ??= connection.connect());
  return {
    subscribe: async (channels) => {
      await ready();
      return connection.subscribe([...channels], listener);
    },
    unsubscribe: async (channels) => {
      await ready();
      return connection.unsubscribe([...channels]);
    },
    close: async () => {
      if (connected === undefined) return;
      await connected.catch(() => undefined);
      await (connection.close ?? connection.quit)?.call(connection).catch(() => undefined);
    },
    destroy: () => {
      if (connection.destroy !== undefined) connection.destroy();
      else void connection.disconnect?.().catch(() => undefined);
    },
  };
}
