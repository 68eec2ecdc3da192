import { type Redis } from 'ioredis';
import { createClient } from 'redis';
import { Redis as Redis6 } from 'ioredis6';
import type { RedisClient } from '../src/index.js';
import { eventually, redisMasters, requireRedis, uniqueName } from '@x/testkit';

/** Clients for the five shared masters (127.0.0.1:7001-7005), checked to answer first. */
export async function connectMasters(): Promise<Redis[]> {
  const checked = await Promise.all(redisMasters().map((endpoint) => requireRedis(endpoint)));
  return checked;
}

/** The value of `key` on every client. */
export function valuesOf(clients: readonly Redis[], key: string): Promise<Array<string | null>> {
  return Promise.all(clients.map((client) => client.get(key)));
}

/**
 * The values of `key` once they equal `expected`, or as they are after 2 s. A round returns once a majority
 * answered; the other instances' scripts may still be on their way (on a fresh server, EVALSHA's NOSCRIPT
 * reply costs them one more round trip), so a test that looks at every instance waits for them.
 */
export async function settledValues(clients: readonly Redis[], key: string, expected: ReadonlyArray<string | null>): Promise<Array<string | null>> {
  const settled = async (): Promise<boolean> => (await valuesOf(clients, key)).every((value, i) => value === expected[i]);
  // Timing out is not an error here: the caller's assertion then shows the values that differ.
  await eventually(settled, `${key} on every instance`, 2_000).catch(() => undefined);
  return valuesOf(clients, key);
}

export function resource(name: string): string {
  return uniqueName(`x-redlock-test:${name}`);
}

export async function quitAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
}

/** The client libraries Redlock takes (ioredis 5 and 6, node-redis 6); the suites run once with each. */
export const CLIENT_KINDS = ['ioredis', 'ioredis 6', 'node-redis'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** What Redlock is given: the ioredis clients themselves, or node-redis clients connected to the same servers. */
export async function lockClients(kind: ClientKind, ioredisClients: readonly Redis[]): Promise<{ clients: RedisClient[]; close(): Promise<void> }> {
  if (kind === 'ioredis') return { clients: [...ioredisClients], close: async () => undefined };
  if (kind === 'ioredis 6') {
    const made = ioredisClients.map(({ options: { host, port } }) => new Redis6({ host, port }));
    await Promise.all(made.map((client) => client.ping()));
    return { clients: made, close: async () => void (await Promise.all(made.map((client) => client.quit()))) };
  }
  const made = await Promise.all(
    ioredisClients.map(async (client) => {
      const { host, port } = client.options;
      const nodeClient = createClient({ socket: { host, port } });
      nodeClient.on('error', () => undefined);
      await nodeClient.connect();
      return nodeClient;
    }),
  );
  return { clients: made, close: async () => void (await Promise.all(made.map((c) => c.close().catch(() => undefined)))) };
}
