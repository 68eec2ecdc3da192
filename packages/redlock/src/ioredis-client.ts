/** ioredis (v5, v6) `Redis` and `Cluster` as a {@link ScriptClient}. */
import { XError } from '@x/core';
import { type ScriptClient, type Subscriber, onShared, scriptRunner, uptimeOf } from './client.js';

/** The part of an ioredis `Redis` or `Cluster` Redlock uses. */
export interface IoredisLike {
  status: string;
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  info(section: string): Promise<string>;
  duplicate(): IoredisLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Cluster only. */
  nodes?(role: 'master'): { info(section: string): Promise<string> }[];
}

export function isIoredis(client: unknown): client is IoredisLike {
  return typeof (client as IoredisLike | null)?.evalsha === 'function' && typeof (client as IoredisLike).status === 'string';
}

export function ioredisClient(client: IoredisLike, index: number): ScriptClient {
  const { run, forget } = scriptRunner({
    ready: () => client.status === 'ready',
    evalSource: (script, keys, args) => client.eval(script.source, keys.length, ...keys, ...args),
    evalSha: (script, keys, args) => client.evalsha(script.sha, keys.length, ...keys, ...args),
  });
  const stopForgetting = onShared(client, 'ready', forget);
  const cluster = typeof client.nodes === 'function';
  const { host, port } = (client as { options?: { host?: string; port?: number } }).options ?? {};
  return {
    name: cluster ? `cluster#${index}` : host !== undefined && port !== undefined ? `${host}:${port}` : `#${index}`,
    cluster,
    run,
    uptimeSeconds: async () => {
      // A Cluster is one vote; its youngest master decides, since any of them may have lost keys.
      const infos = cluster ? await Promise.all(client.nodes!('master').map((node) => node.info('server'))) : [await client.info('server')];
      return lowestUptime(infos);
    },
    onReconnect: (listener) => onShared(client, 'ready', listener),
    detach: stopForgetting,
    openSubscriber: (onMessage): Subscriber => {
      const subscriber = client.duplicate();
      subscriber.on('error', () => undefined); // reconnects on its own; a lost release only costs a retry delay
      subscriber.on('message', onMessage as (...args: unknown[]) => void);
      return {
        subscribe: (channels) => subscriber.subscribe(...channels),
        unsubscribe: (channels) => subscriber.unsubscribe(...channels),
        close: async () => void (await subscriber.quit().catch(() => subscriber.disconnect())),
        destroy: () => subscriber.disconnect(),
      };
    },
  };
}

/** The lowest uptime of `INFO server` replies; a server that has none (or no server at all) is an error. */
export function lowestUptime(infos: readonly string[]): number {
  if (infos.length === 0) throw new XError('ERR_UNEXPECTED_REPLY', 'the cluster has no master');
  const uptimes = infos.map(uptimeOf);
  if (uptimes.some((u) => u === undefined)) throw new XError('ERR_UNEXPECTED_REPLY', 'INFO server has no uptime_in_seconds');
  return Math.min(...(uptimes as number[]));
}
