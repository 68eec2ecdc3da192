import { join } from 'node:path';
import { InvalidArgumentError, PaddedCounters, cacheLineSize } from '../src/index.js';
import { firstMessage, startTsWorker } from '@x/testkit';

describe('PaddedCounters', () => {
  it('places each counter on its own line', () => {
    const counters = new PaddedCounters(4);
    expect(counters.stride).toBe(cacheLineSize());
    expect(counters.buffer.byteLength).toBe(5 * cacheLineSize());
    counters.add(1, 5);
    counters.add(3);
    const words = new BigInt64Array(counters.buffer);
    const step = counters.stride / 8;
    expect(words[2 * step]).toBe(5n);
    expect(words[4 * step]).toBe(1n);
    expect(words.reduce((a, b) => a + b, 0n)).toBe(6n);
  });

  it('counts, totals and resets', () => {
    const counters = new PaddedCounters(3, { stride: 128 });
    counters.add(0, 2);
    counters.add(2, -1);
    counters.add(1, 2 ** 40);
    expect([counters.get(0), counters.get(1), counters.get(2)]).toEqual([2, 2 ** 40, -1]);
    expect(counters.total()).toBe(2 ** 40 + 1);
    counters.reset(1);
    expect(counters.total()).toBe(1);
    counters.reset();
    expect(counters.total()).toBe(0);
  });

  it('rejects bad indexes, deltas, strides and buffers with typed errors', () => {
    const counters = new PaddedCounters(2);
    expect(() => counters.add(2)).toThrow(InvalidArgumentError);
    expect(() => counters.add(-1)).toThrow(InvalidArgumentError);
    expect(() => counters.get(0.5)).toThrow(InvalidArgumentError);
    expect(() => counters.add(0, 1.5)).toThrow(expect.objectContaining({ argument: 'delta' }));
    expect(() => new PaddedCounters(0)).toThrow(InvalidArgumentError);
    expect(() => new PaddedCounters(2, { stride: 12 })).toThrow(/multiple of 8/);
    expect(() => new PaddedCounters(2, { buffer: new SharedArrayBuffer(8) })).toThrow(/at least/);
    expect(() => new PaddedCounters(2, { buffer: new ArrayBuffer(1024) as unknown as SharedArrayBuffer })).toThrow(
      /SharedArrayBuffer/,
    );
  });

  it('adds up exactly when several threads write their own and a shared counter', async () => {
    const counters = new PaddedCounters(3);
    const increments = 200_000;
    const workers = [1, 2].map((index) =>
      startTsWorker(join(__dirname, 'workers/counter-worker.ts'), {
        buffer: counters.buffer,
        count: 3,
        stride: counters.stride,
        index,
        increments,
      }),
    );
    await Promise.all(workers.map((worker) => firstMessage(worker)));
    await Promise.all(workers.map((worker) => worker.terminate()));
    expect(counters.get(1)).toBe(increments);
    expect(counters.get(2)).toBe(increments);
    expect(counters.get(0)).toBe(2);
  });
});
