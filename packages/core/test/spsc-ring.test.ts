import { join } from 'node:path';
import { InvalidArgumentError, RingLayoutError, SpscRing, TimeoutError } from '../src/index.js';
import { firstMessage, startTsWorker } from '@x/testkit';

describe('SpscRing on one thread', () => {
  it('is FIFO, reports full and empty, and wraps around', () => {
    const ring = SpscRing.create(4);
    expect(ring.tryPop()).toBeUndefined();
    for (let round = 0; round < 10; round++) {
      expect([1, 2, 3, 4].map((v) => ring.tryPush(v + round))).toEqual([true, true, true, true]);
      expect(ring.tryPush(99)).toBe(false);
      expect(ring.size).toBe(4);
      expect([ring.tryPop(), ring.tryPop(), ring.tryPop(), ring.tryPop()]).toEqual([1, 2, 3, 4].map((v) => v + round));
      expect(ring.tryPop()).toBeUndefined();
    }
  });

  it('moves batches as far as there is room', () => {
    const ring = SpscRing.create(8);
    expect(ring.pushMany([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBe(8);
    const out = new Float64Array(5);
    expect(ring.popMany(out)).toBe(5);
    expect([...out]).toEqual([1, 2, 3, 4, 5]);
    expect(ring.pushMany([9, 10, 11], 1)).toBe(2);
    const rest: number[] = [];
    expect(ring.popMany(rest, 10)).toBe(5);
    expect(rest).toEqual([6, 7, 8, 10, 11]);
    expect(ring.popMany(out)).toBe(0);
    expect(ring.pushMany([])).toBe(0);
    ring.pushMany([12, 13]);
    const grown: number[] = [];
    expect(ring.popMany(grown)).toBe(2);
    expect(grown).toEqual([12, 13]);
  });

  it('carries any float64, including fractions and negatives', () => {
    const ring = SpscRing.create(4);
    ring.tryPush(-1.5);
    ring.tryPush(2 ** 52 + 1);
    expect(ring.tryPop()).toBe(-1.5);
    expect(ring.tryPop()).toBe(2 ** 52 + 1);
  });

  it('times out with a typed error instead of blocking forever', () => {
    const ring = SpscRing.create(2);
    expect(() => ring.pop(5)).toThrow(TimeoutError);
    ring.push(1);
    ring.push(2);
    expect(() => ring.push(3, 5)).toThrow(expect.objectContaining({ code: 'ERR_TIMEOUT' }));
  });

  it('popAsync waits without blocking and honours abort', async () => {
    const ring = SpscRing.create(2);
    const pending = ring.popAsync();
    setTimeout(() => ring.tryPush(7), 5);
    await expect(pending).resolves.toBe(7);
    const controller = new AbortController();
    const aborted = ring.popAsync(controller.signal);
    setTimeout(() => controller.abort(), 5);
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('rejects bad capacities and foreign buffers', () => {
    expect(() => SpscRing.create(3)).toThrow(/power of two/);
    expect(() => SpscRing.create(1)).toThrow(InvalidArgumentError);
    expect(() => SpscRing.create(8, { lineSize: 48 })).toThrow(InvalidArgumentError);
    expect(() => SpscRing.attach(new SharedArrayBuffer(1024))).toThrow(RingLayoutError);
    expect(() => SpscRing.attach(new SharedArrayBuffer(4))).toThrow(RingLayoutError);
    expect(() => SpscRing.attach({} as SharedArrayBuffer)).toThrow(InvalidArgumentError);
    const truncated = new SharedArrayBuffer(SpscRing.create(8).buffer.byteLength);
    new Int32Array(truncated).set(new Int32Array(SpscRing.create(16).buffer, 0, 3));
    expect(() => SpscRing.attach(truncated)).toThrow(/size does not match/);
  });
});

describe('SpscRing across threads', () => {
  it('hands 200k values from a worker producer to a worker consumer in order, through a small ring', async () => {
    const count = 200_000;
    const ring = SpscRing.create(64);
    const consumer = startTsWorker(join(__dirname, 'workers/ring-worker.ts'), { buffer: ring.buffer, role: 'consume', count });
    const producer = startTsWorker(join(__dirname, 'workers/ring-worker.ts'), { buffer: ring.buffer, role: 'produce', count });
    const [consumed, produced] = await Promise.all([firstMessage(consumer), firstMessage(producer)]);
    await Promise.all([consumer.terminate(), producer.terminate()]);
    expect(produced).toBe('produced');
    expect(consumed).toEqual({ sum: (count * (count - 1)) / 2 });
    expect(ring.size).toBe(0);
  });

  it('feeds a worker consumer from the main thread', async () => {
    const count = 10_000;
    const ring = SpscRing.create(16);
    const consumer = startTsWorker(join(__dirname, 'workers/ring-worker.ts'), { buffer: ring.buffer, role: 'consume', count });
    const result = firstMessage(consumer);
    for (let i = 0; i < count; ) {
      if (ring.tryPush(i)) i++;
      else await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await result).toEqual({ sum: (count * (count - 1)) / 2 });
    await consumer.terminate();
  });
});
