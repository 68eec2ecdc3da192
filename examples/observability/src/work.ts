/** Work for each package, in amounts a scrape can be checked against. */
import { connect } from 'node:net';
import type { App } from './app.js';

export interface Amounts {
  jobs: number;
  locks: number;
  timers: number;
  connections: number;
}

/** Runs `amounts` of work through every package of the app and resolves once all of it is done. */
export async function drive(app: App, amounts: Amounts, topic = 'emails'): Promise<void> {
  await Promise.all([jobs(app, amounts.jobs, topic), locks(app, amounts.locks), timers(app, amounts.timers), connections(app, amounts.connections)]);
}

async function jobs(app: App, count: number, topic: string): Promise<void> {
  let left = count;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  app.queue.process(topic, () => {
    if (--left === 0) done();
  }, { concurrency: 10 });
  await app.queue.addBulk(Array.from({ length: count }, (_, i) => ({ topic, payload: { i }, options: { delay: 20 } })));
  await finished;
}

async function locks(app: App, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await (await app.redlock.acquire(`observability:lock:${i % 3}`, 1_000)).release();
}

function timers(app: App, count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    for (let i = 0; i < count; i++) app.wheel.setTimeout(() => --left === 0 && resolve(), 5 + (i % 20));
  });
}

async function connections(app: App, count: number): Promise<void> {
  if (app.echoPort === undefined) return;
  const port = app.echoPort;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => socket.write('ping\n'));
          socket.once('data', () => socket.destroy());
          socket.once('close', () => resolve());
          socket.once('error', reject);
        }),
    ),
  );
}

/** The samples of a Prometheus scrape: `name{labels}` to value (comments and metadata lines left out). */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** Sum of the samples whose series starts with `prefix` (a metric name, optionally with some of its labels). */
export function sumOf(samples: Map<string, number>, prefix: string, where: (series: string) => boolean = () => true): number {
  let sum = 0;
  for (const [series, value] of samples) if ((series === prefix || series.startsWith(`${prefix}{`)) && where(series)) sum += value;
  return sum;
}
