import { ManualClock } from '@x/core';
import { DelayQueue, MemoryBackend } from '../src/index.js';
import { conformance } from './conformance.js';

conformance('memory', { create: async () => new MemoryBackend() });

describe('memory backend on a manual clock', () => {
  it('runs a job due in an hour without waiting an hour, and forgets done ids beyond keepDone', async () => {
    const clock = new ManualClock();
    const queue = new DelayQueue({ clock, backend: new MemoryBackend({ clock, keepDone: 1 }) });
    const seen: string[] = [];
    queue.process('t', (job) => {
      seen.push(job.id);
    });
    await queue.add('t', 1, { id: 'a', delay: 3_600_000 });
    await queue.add('t', 2, { id: 'b', delay: 3_600_001 });
    await clock.advanceAsync(3_599_999);
    expect(seen).toEqual([]);
    await clock.advanceAsync(1);
    await clock.advanceAsync(1);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a', 'b']);
    expect((await queue.get('b'))?.state).toBe('done');
    expect(await queue.get('a')).toBeUndefined();
    await queue.close();
  });
});

describe('bad arguments to the queue itself', () => {
  it('rejects bad close() options as a rejected promise, like every other method, and closes on a good call after', async () => {
    const queue = new DelayQueue();
    const outcomes: unknown[] = [];
    for (const options of [null, { timeot: 5 }, { timeout: -1 }, 'soon']) {
      let thrown: unknown;
      let promise: Promise<void> | undefined;
      try {
        promise = queue.close(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeUndefined();
      outcomes.push(await promise!.then(() => 'closed', (error: { code?: string }) => error.code));
    }
    expect(outcomes).toEqual(['ERR_INVALID_ARGUMENT', 'ERR_INVALID_ARGUMENT', 'ERR_INVALID_ARGUMENT', 'ERR_INVALID_ARGUMENT']);
    await expect(queue.close({ timeout: 100 })).resolves.toBeUndefined();
  });

  it('refuses a backend that is not one, with a typed error', () => {
    for (const backend of [{}, 'redis', 42]) {
      expect(() => new DelayQueue({ backend: backend as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.backend' }));
    }
  });
});
