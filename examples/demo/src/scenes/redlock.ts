import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Redlock } from '@x/redlock';
import type { Scene } from '../scene.js';

// The demo needs no running service: it starts three throwaway redis-server processes on free loopback ports,
// when redis-server is installed.
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function startRedis(): Promise<{ process: ChildProcess; client: Redis }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: (times) => (times > 50 ? null : 20) });
  client.on('error', () => undefined);
  await client.ping();
  return { process: child, client };
}

export const redlockScene: Scene = {
  title: '@x/redlock — 8 workers, one lock over 3 redis-server processes, a non-atomic counter',
  async run(log) {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      log('skipped: redis-server is not installed (apt-get install redis-server)');
      return;
    }
    const servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
    const clients = servers.map((server) => server.client);
    // Fresh servers: the delayed-restart rule would (rightly) refuse their votes for maxTtl.
    const redlock = new Redlock(clients, { restartGuard: false, retryCount: 1_000 });
    try {
      const counter = clients[0]!;
      await counter.set('demo:counter', 0);
      let waits = 0;
      const tokens: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 25; i++) {
            await redlock.using('demo:resource', 1_000, async (_signal, lock) => {
              tokens.push(lock.fencingToken!);
              // GET, pause, SET: only safe because nobody else holds the lock meanwhile.
              const value = Number(await counter.get('demo:counter'));
              await new Promise((resolve) => setTimeout(resolve, 1));
              await counter.set('demo:counter', value + 1);
            });
            waits++;
          }
        }),
      );
      const elapsed = performance.now() - started;
      const increasing = tokens.every((token, i) => i === 0 || token > tokens[i - 1]!);
      log(`${waits} critical sections in ${Math.round(elapsed)} ms (${Math.round((waits / elapsed) * 1000)} locks/s), counter = ${await counter.get('demo:counter')}`);
      log(`fencing tokens ${tokens[0]}..${tokens[tokens.length - 1]}, strictly increasing in lock order: ${increasing}`);
    } finally {
      await redlock.close();
      clients.forEach((client) => client.disconnect());
      servers.forEach((server) => server.process.kill('SIGKILL'));
    }
  },
};
