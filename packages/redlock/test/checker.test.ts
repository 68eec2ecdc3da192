import { Redis } from 'ioredis';
import { type TestRedisServer, requireRedis, startRedisServer, uniqueName } from '@x/testkit';
import { Redlock } from '../src/index.js';
import { type CheckerReport, runChecker } from './checker.js';

const WORKERS = 6;
const OPERATIONS = 60;

describe('mutual exclusion under faults (5 private redis-server processes)', () => {
  let servers: TestRedisServer[];
  let storage: Redis;
  let clients: Redis[] = [];

  beforeAll(async () => {
    servers = await Promise.all(Array.from({ length: 5 }, () => startRedisServer()));
    storage = await requireRedis();
  });
  afterAll(async () => {
    await storage.quit();
    await Promise.all(servers.map((server) => server.stop()));
  });
  afterEach(() => {
    clients.forEach((client) => client.disconnect());
    clients = [];
  });

  // One Redlock per worker, each with its own connections, as separate processes would have.
  function redlocks(options: ConstructorParameters<typeof Redlock>[1]): Redlock[] {
    return Array.from({ length: WORKERS }, () => {
      const own = servers.map((server) => {
        const client = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 50 });
        client.on('error', () => undefined);
        return client;
      });
      clients.push(...own);
      return new Redlock(own, { requestTimeout: 50, ...options });
    });
  }

  async function check(
    name: string,
    fault?: () => Promise<void>,
    options: ConstructorParameters<typeof Redlock>[1] = { restartGuard: false },
    pause?: { ms: number; fenced: boolean },
  ): Promise<CheckerReport> {
    const locks = redlocks(options);
    const report = await runChecker({
      ...(pause ? { pause } : {}),
      redlocks: locks,
      storage,
      resource: uniqueName(`x-redlock-check:${name}`),
      counterKey: uniqueName('x-redlock-check:counter'),
      operations: OPERATIONS,
      ttl: 1_000,
      holdMs: 2,
      ...(fault ? { fault } : {}),
    });
    await Promise.all(locks.map((lock) => lock.close()));
    console.log(`checker ${name}: ${JSON.stringify(report)}`);
    return report;
  }

  it('holds with all instances up', async () => {
    const report = await check('healthy');
    expect(report).toMatchObject({ operations: OPERATIONS, overlaps: 0, lostUpdates: 0 });
  });

  it('holds while one instance is frozen (SIGSTOP) and after it resumes', async () => {
    const report = await check('sigstop', async () => {
      servers[1]!.pause();
      await new Promise((resolve) => setTimeout(resolve, 500));
      servers[1]!.resume();
    });
    expect(report).toMatchObject({ operations: OPERATIONS, overlaps: 0, lostUpdates: 0 });
  });

  it('holds when an instance is killed and restarts empty within the TTL, with the restart guard on', async () => {
    const report = await check(
      'kill-restart',
      async () => {
        await servers[3]!.kill();
        await servers[3]!.restart();
      },
      // The guard's length is maxTtl: long enough to outlive any lock the restarted instance forgot.
      { maxTtl: 1_000 },
    );
    expect(report).toMatchObject({ operations: OPERATIONS, overlaps: 0, lostUpdates: 0 });
  });

  it('holds while one instance is unreachable (killed, not restarted) for the rest of the run', async () => {
    const report = await check('unreachable', async () => {
      await servers[2]!.kill();
    });
    await servers[2]!.restart();
    expect(report).toMatchObject({ operations: OPERATIONS, overlaps: 0, lostUpdates: 0 });
  });

  it('a holder paused past its TTL: without fencing its stale write loses updates; with fencing the store refuses it', async () => {
    const unfenced = await check('paused-unfenced', undefined, { restartGuard: false }, { ms: 1_500, fenced: false });
    // The lease alone cannot stop a paused process (Kleppmann): its late write overwrote the others' increments.
    expect(unfenced.lostUpdates + unfenced.overlaps).toBeGreaterThan(0);
    const fenced = await check('paused-fenced', undefined, { restartGuard: false }, { ms: 1_500, fenced: true });
    expect(fenced).toMatchObject({ operations: OPERATIONS, overlaps: 0, lostUpdates: 0, staleWritesRejected: 1 });
  });
});
