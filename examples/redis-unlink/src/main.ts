/**
 * How long does deleting a big key stall everyone else? A private redis-server (so CONFIG SET touches nothing
 * shared) holds a hash of 1,000,000 fields; one client deletes it while another sends PINGs back to back. The
 * longest PING round trip around the deletion is the stall every other client of that server saw.
 *
 *   DEL                                  frees the hash inside the command: the server does nothing else meanwhile
 *   UNLINK                               unlinks the key, frees the value in a background thread
 *   DEL + lazyfree-lazy-user-del yes     DEL behaves like UNLINK (Redis 6.0+)
 *
 * Then it shows the other half of the rule: a value whose free effort is 64 or less (a hash table of at most
 * 64 fields, any listpack) is freed synchronously even by UNLINK, because handing it to a thread costs more
 * than freeing it (LAZYFREE_THRESHOLD in lazyfree.c); INFO memory's lazyfreed_objects counts the background frees.
 *
 * Usage: npm start -w @x/example-redis-unlink [-- --fields 1000000 --rounds 5]
 */
import { Redis } from 'ioredis';
import { startRedisServer } from '@x/testkit';

const FIELDS = numberArg('--fields', 1_000_000);
const ROUNDS = numberArg('--rounds', 5);
const KEY = 'big';

type Mode = 'DEL' | 'UNLINK' | 'DEL (lazyfree-lazy-user-del yes)';

async function main(): Promise<void> {
  // A throwaway redis-server on a free port (the project's test kit starts and removes it).
  const server = await startRedisServer();
  const deleter = new Redis({ port: server.port, host: '127.0.0.1' });
  const pinger = new Redis({ port: server.port, host: '127.0.0.1' });
  try {
    const version = /redis_version:(\S+)/.exec(await deleter.info('server'))?.[1] ?? '?';
    console.log(`redis-server ${version}, hash of ${FIELDS.toLocaleString('en-US')} fields, ${ROUNDS} rounds per mode (medians)\n`);
    const rows: string[][] = [];
    for (const mode of ['DEL', 'UNLINK', 'DEL (lazyfree-lazy-user-del yes)'] as Mode[]) {
      await deleter.config('SET', 'lazyfree-lazy-user-del', mode.startsWith('DEL (') ? 'yes' : 'no');
      const stalls: number[] = [];
      const commands: number[] = [];
      process.stdout.write(`${mode}: `);
      for (let round = 0; round < ROUNDS; round++) {
        // Filling a hash of this size takes a few seconds a round: say where we are.
        process.stdout.write(`round ${round + 1}/${ROUNDS} `);
        await fill(deleter, FIELDS);
        const { stall, command } = await measureDelete(deleter, pinger, mode);
        stalls.push(stall);
        commands.push(command);
      }
      process.stdout.write('\n');
      rows.push([mode, ms(median(commands)), ms(median(stalls))]);
    }
    console.log('');
    printTable(['deletion', 'command took', 'longest PING of another client'], rows);

    console.log('\nsmall values: UNLINK of a hash table with n fields (hash-max-listpack-entries 0 forces a table)\n');
    await deleter.config('SET', 'hash-max-listpack-entries', '0');
    const small: string[][] = [];
    for (const n of [1, 64, 65, 1000]) {
      await fill(deleter, n);
      const before = await lazyfreed(deleter);
      await deleter.unlink(KEY);
      const freedInBackground = (await lazyfreed(deleter)) - before;
      small.push([String(n), freedInBackground === 1 ? 'background thread' : 'synchronously, in the command']);
    }
    printTable(['fields', 'UNLINK freed the value'], small);
  } finally {
    deleter.disconnect();
    pinger.disconnect();
    await server.stop();
  }
}

/** Writes `fields` fields into the hash, 1,000 per HSET, all pipelined. */
async function fill(redis: Redis, fields: number): Promise<void> {
  await redis.del(KEY);
  const pipeline = redis.pipeline();
  for (let start = 0; start < fields; start += 1000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(fields, start + 1000); i++) args.push(`field:${i}`, `value:${i}`);
    pipeline.hset(KEY, ...args);
  }
  await pipeline.exec();
}

/** Deletes the hash while the other client pings back to back; returns the longest PING around it. */
async function measureDelete(deleter: Redis, pinger: Redis, mode: Mode): Promise<{ stall: number; command: number }> {
  let pinging = true;
  let longest = 0;
  const pings = (async () => {
    while (pinging) {
      const sent = performance.now();
      await pinger.ping();
      longest = Math.max(longest, performance.now() - sent);
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 20));
  longest = 0;
  const sent = performance.now();
  if (mode === 'UNLINK') await deleter.unlink(KEY);
  else await deleter.del(KEY);
  const command = performance.now() - sent;
  await new Promise((resolve) => setTimeout(resolve, 20));
  pinging = false;
  await pings;
  return { stall: longest, command };
}

/** Objects freed by the background thread so far, once it has nothing left to free. */
async function lazyfreed(redis: Redis): Promise<number> {
  // The thread may still be freeing an earlier big value (the last DEL round's): wait until it is idle.
  for (;;) {
    const info = await redis.info('memory');
    const pending = /lazyfree_pending_objects:(\d+)/.exec(info)?.[1];
    const count = /lazyfreed_objects:(\d+)/.exec(info)?.[1];
    if (pending === undefined || count === undefined) {
      throw new Error('this redis-server reports no lazyfree counters (Redis 6.2 or later does)');
    }
    if (pending === '0') return Number(count);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function ms(value: number): string {
  return `${value.toFixed(value < 10 ? 2 : 0)} ms`;
}

function numberArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
