import { join } from 'node:path';
import { eventually, runTsProcess } from '@x/testkit';
import { HashedWheel, HierarchicalWheel, type TimerWheel } from '../src/index.js';

// Busy-waits: stands for a handler that blocks the event loop.
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe.each<[string, () => TimerWheel]>([
  ['HierarchicalWheel', () => new HierarchicalWheel()],
  ['HashedWheel', () => new HashedWheel()],
])('%s on the system clock', (_name, make) => {
  it('never fires a timer before its deadline', async () => {
    const wheel = make();
    const early: number[] = [];
    let remaining = 300;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 300; i++) {
        const delay = (i * 7919) % 120;
        const deadline = performance.now() + delay;
        wheel.setTimeout(() => {
          if (performance.now() < deadline) early.push(deadline - performance.now());
          if (--remaining === 0) resolve();
        }, delay);
      }
    });
    expect(early).toEqual([]);
    wheel.close();
  });

  it('catches up after the event loop was blocked: everything due fires at once, in deadline order', async () => {
    const wheel = make();
    const order: number[] = [];
    const started = performance.now();
    for (const delay of [30, 10, 20, 40]) wheel.setTimeout(() => order.push(delay), delay);
    const later = new Promise<number>((resolve) => wheel.setTimeout(() => resolve(performance.now() - started), 200));
    block(60);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual([10, 20, 30, 40]);
    expect(await later).toBeGreaterThanOrEqual(200);
    wheel.close();
  });

  it('an interval skips the runs missed while the loop was blocked instead of bunching them', async () => {
    const wheel = make();
    const runs: number[] = [];
    const started = performance.now();
    const interval = wheel.setInterval(() => {
      runs.push(performance.now() - started);
      if (runs.length === 1) block(55);
    }, 10);
    // Until three runs have happened (a loaded machine may delay them past any fixed sleep), at most 2 s.
    await eventually(() => runs.length >= 3, 'three runs', 2_000);
    interval.cancel();
    // After the 55 ms block, the next run is a full period later, not four runs in a row.
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(55 + 10 - 1);
    // Bunched catch-up runs would fire in the same tick; on a loaded machine one run may still come a few ms
    // late and the next on time, so the bound is "not in the same tick", not "a full period".
    for (let i = 2; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!).toBeGreaterThan(1);
    wheel.close();
  });
});

describe('process lifetime', () => {
  const fixture = join(__dirname, 'fixtures/unref-exit.ts');

  it('a referenced timer keeps the process alive until it fires', async () => {
    const result = await runTsProcess(fixture, { env: { MODE: 'ref' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('fired ref\n');
  });

  it('an unreferenced timer lets the process exit at once', async () => {
    const result = await runTsProcess(fixture, { env: { MODE: 'unref' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.elapsedMs).toBeLessThan(4_000);
  });

  it('the process lives as long as the referenced timers, not the unreferenced ones', async () => {
    const result = await runTsProcess(fixture, { env: { MODE: 'mixed' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('fired short ref\n');
  });

  it('a throwing callback surfaces as an uncaught exception after its batch has fired', async () => {
    const result = await runTsProcess(fixture, { env: { MODE: 'throw' } });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('fired after the throw\n');
    expect(result.stderr).toContain('callback failed');
  });
});
