import { type Redis } from 'ioredis';
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
