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
