/**
 * `npm run bench:clock-fault -w @x/redlock [-- --quick]`: critical sections of four processes x 4 workers on one
 * key, with one of the five masters on a clock running twice as fast (libfaketime; Redis expires keys by its
 * clock). TTL 300 ms, sections 50-200 ms, a GET/SET counter inside; each section's start and end on the
 * machine's clock. Prints, per library, sections, overlapping sections per 1,000 and lost updates.
 * Masters: a private redis-server under libfaketime plus 127.0.0.1:7001-7004 of `scripts/services`.
 */
import { fork } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { isQuick, redisMasters, startRedisServer } from '@x/testkit';
import { type LockerName, makeLocker } from './peers.js';

const TTL_MS = 300;
const PROCESSES = 4;
const WORKERS_EACH = 4;
const DURATION_MS = isQuick() ? 10_000 : 30_000;
/** The odd master's clock, as libfaketime reads it (X_FAKETIME; `+0 x1` is a control run). */
const FAKETIME = process.env.X_FAKETIME ?? '+0 x2';
/** The libraries measured (X_ONLY, comma-separated). */
const ONLY = (process.env.X_ONLY ?? 'ours,redis-semaphore,redlock').split(',') as LockerName[];
/** Epoch ms with sub-ms precision: one clock for every process of the machine. */
const now = (): number => performance.timeOrigin + performance.now();

interface ChildArgs {
  who: LockerName;
  fastPort: number;
  resource: string;
  log: string;
  stopAt: number;
}

async function contend({ who, fastPort, resource, log, stopAt }: ChildArgs): Promise<void> {
  const clients = [new Redis({ port: fastPort }), ...redisMasters().slice(0, 4).map(({ host, port }) => new Redis({ host, port }))];
  const counter = clients[1]!;
  const locker = makeLocker(who, clients);
  // node-redlock can wait for a lock for minutes across processes: the run ends at its time regardless.
  setTimeout(() => process.exit(0), stopAt - Date.now() + 2_000).unref();
  await Promise.all(
    Array.from({ length: WORKERS_EACH }, async () => {
      while (Date.now() < stopAt) {
        const release = await locker.lock(resource, TTL_MS);
        const start = now();
        const n = Number(await counter.get(`${resource}:n`));
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
        await counter.set(`${resource}:n`, n + 1);
        appendFileSync(log, `${start} ${now()}\n`);
        await release().catch(() => undefined);
      }
    }),
  );
  await locker.close();
  process.exit(0);
}

async function measure(who: LockerName, fastPort: number, dir: string, admin: Redis): Promise<string> {
  const resource = `x-redlock-bench:clock:${who}:${Date.now()}`;
  const log = join(dir, `${who}.log`);
  appendFileSync(log, '');
  await admin.set(`${resource}:n`, 0);
  const args: ChildArgs = { who, fastPort, resource, log, stopAt: Date.now() + 1_000 + DURATION_MS };
  const children = Array.from({ length: PROCESSES }, () => fork(__filename, ['child', JSON.stringify(args)], { stdio: 'inherit' }));
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
  const sections = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0]);
  let overlaps = 0;
  let lastEnd = -Infinity;
  const at: string[] = [];
  for (const [start, end] of sections) {
    if (start < lastEnd) {
      overlaps++;
      at.push(`${((start - sections[0]![0]) / 1000).toFixed(1)} s`);
    }
    lastEnd = Math.max(lastEnd, end);
  }
  const lost = sections.length - Number(await admin.get(`${resource}:n`));
  await admin.del(`${resource}:n`);
  const per1000 = sections.length === 0 ? 'n/a' : ((overlaps * 1000) / sections.length).toFixed(1);
  const when = at.length === 0 ? '' : ` (at ${at.slice(0, 5).join(', ')} into the run)`;
  return `${who.padEnd(16)} ${String(sections.length).padStart(5)} sections, ${overlaps} overlapping (${per1000} per 1,000)${when}, ${lost} lost updates`;
}

async function main(): Promise<void> {
  const fast = await startRedisServer({ fakeTime: FAKETIME });
  const dir = mkdtempSync(join(tmpdir(), 'x-redlock-clock-'));
  const { host, port } = redisMasters()[0]!;
  const admin = new Redis({ host, port });
  try {
    console.log(`# redlock clock fault: ${PROCESSES} processes x ${WORKERS_EACH} workers, TTL ${TTL_MS} ms, one of five masters' clocks at FAKETIME='${FAKETIME}', ${DURATION_MS / 1000} s each`);
    for (const who of ONLY) console.log(await measure(who, fast.port, dir, admin));
  } finally {
    admin.disconnect();
    await fast.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') void contend(JSON.parse(process.argv[3]!) as ChildArgs);
else void main();
