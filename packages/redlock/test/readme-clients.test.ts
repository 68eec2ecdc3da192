/** The README's node-redis example, as written, on the five masters of scripts/services. */
import { createClient } from 'redis';
import { redisMasters } from '@x/testkit';
import { Redlock } from '../src/index.js';
import { resource } from './helpers.js';

it("runs the README's node-redis example: connected clients as they are", async () => {
  const clients = await Promise.all(redisMasters().map(({ host, port }) => createClient({ socket: { host, port } }).connect()));
  const redlock = new Redlock(clients, { restartGuard: false });
  try {
    const key = resource('readme-node-redis');
    const lock = await redlock.acquire(key, 2_000);
    expect(await clients[0]!.get(key)).toBe(lock.value);
    expect((await lock.release()).released).toBe(true);
    expect(await clients[0]!.get(key)).toBeNull();
  } finally {
    await redlock.close();
    await Promise.all(clients.map((client) => client.close()));
  }
});
