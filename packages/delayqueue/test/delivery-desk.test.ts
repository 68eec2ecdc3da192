/**
 * The broker backends' delivery desk: a ttr that runs out sends a copy for the next attempt, except when the
 * process stood still and the broker took the message back meanwhile. The stall is real: the thread blocks.
 */
import { systemClock } from '@x/core';
import { DeliveryDesk, type DeskEntry, type DeskHost } from '../src/broker/delivery-desk.js';
import type { JobMessage } from '../src/broker/job-message.js';

/** Blocks this thread for `ms`, as a SIGSTOP or a frozen VM would (timers due meanwhile fire late). */
function standStill(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function setUp(): { desk: DeliveryDesk; republished: JobMessage[]; entry: DeskEntry & { taken: boolean } } {
  const clock = systemClock;
  const republished: JobMessage[] = [];
  const host: DeskHost = {
    clock,
    maxHoldMs: 60_000,
    republish: async (job) => void republished.push(job),
    bury: async () => undefined,
    due: () => undefined,
    expired: () => undefined,
    error: (error) => {
      throw error;
    },
    lost: () => undefined,
  };
  const job: JobMessage = { id: 'j1', topic: 't', payload: '1', attempt: 1, maxAttempts: 3, ttr: 100, backoff: 'f10/10', dueAt: Date.now() - 1 };
  const entry = {
    job,
    taken: false,
    ack: () => undefined,
    release: () => undefined,
    // False once the broker gave the message to another consumer (a Kafka partition revoked).
    live(): boolean {
      return !this.taken;
    },
  };
  const desk = new DeliveryDesk('t', host);
  desk.offer(entry);
  expect(desk.reserve(1)).toHaveLength(1);
  return { desk, republished, entry };
}

describe('the delivery desk when a ttr runs out', () => {
  it('sends a copy for the next attempt when the timer fires on time', async () => {
    const { republished } = setUp();
    await tick(300);
    expect(republished.map((job) => job.attempt)).toEqual([2]);
  });

  it('after a stall, waits for news that the broker took the message back, and then sends nothing', async () => {
    const { republished, entry } = setUp();
    // The thread stands still for 1.5 s: the 100 ms ttr timer fires 1.4 s late.
    standStill(1_500);
    await tick(50);
    expect(republished).toEqual([]);
    // Meanwhile the consumer hears it lost the partition.
    entry.taken = true;
    await tick(5_300);
    expect(republished).toEqual([]);
  }, 15_000);

  it('after a stall, still sends the copy once the grace passed without such news', async () => {
    const { republished } = setUp();
    standStill(1_500);
    await tick(50);
    expect(republished).toEqual([]);
    await tick(5_300);
    expect(republished.map((job) => job.attempt)).toEqual([2]);
  }, 15_000);
});
