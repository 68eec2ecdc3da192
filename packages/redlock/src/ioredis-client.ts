/** ioredis (v5, v6) `Redis` and `Cluster` as a {@link ScriptClient}. */
import { type ScriptClient, type Subscriber, onShared, scriptRunner } from './client.js';

/** The part of an ioredis `Redis` or `Cluster` Redlock uses. */
export interface IoredisLike {
  status: string;
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  duplicate(): IoredisLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Cluster only (how a Cluster is told apart). */
  nodes?(role: 'master'): unknown[];
}

export function isIoredis(client: unknown): client is IoredisLike {
  return typeof (client as IoredisLike | null)?.evalsha === 'function' && typeof (client as IoredisLike).status === 'string';
}

export function ioredisClient(client: IoredisLike, index: number): ScriptClient {
  const ready = (): boolean => client.status === 'ready';
  const { run, forget } = scriptRunner({
    ready,
    evalSource: (script, keys, args) => client.eval(script.source, keys.length, ...keys, ...args),
    evalSha: (script, keys, args) => client.evalsha(script.sha, keys.length, ...keys, ...args),
  });
  const stopForgetting = onShared(client, 'ready', forget);
  const cluster = typeof client.nodes === 'function';
  const { host, port } = (client as { options?: { host?: string; port?: number } }).options ?? {};
  return {
    name: cluster ? `cluster#${index}` : host !== undefined && port !== undefined ? `${host}:${port}` : `#${index}`,
    cluster,
    connected: ready,
    run,
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
