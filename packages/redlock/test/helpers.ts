import { type Redis } from 'ioredis';
import { redisMasters, requireRedis, uniqueName } from '@x/testkit';

/** Clients for the five shared masters (127.0.0.1:7001-7005), checked to answer first. */
export async function connectMasters(): Promise<Redis[]> {
  const checked = await Promise.all(redisMasters().map((endpoint) => requireRedis(endpoint)));
  return checked;
}

/** The value of `key` on every client. */
export function valuesOf(clients: readonly Redis[], key: string): Promise<Array<string | null>> {
  return Promise.all(clients.map((client) => client.get(key)));
}

export function resource(name: string): string {
  return uniqueName(`x-redlock-test:${name}`);
}

export async function quitAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
}
