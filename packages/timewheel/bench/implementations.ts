import { ActionTimerWheel } from 'timer-wheel';
import { HashedWheel, HierarchicalWheel } from '@x/timewheel';

/** What the benchmarks need from a timer implementation. */
export interface TimerImpl {
  name: string;
  /** Schedules `callback` after `delay` ms and returns something `cancel` accepts. */
  schedule(callback: () => void, delay: number): unknown;
  cancel(handle: unknown): void;
  /** Drops everything still pending; `handles` are all handles `schedule` returned. */
  dispose(handles: readonly unknown[]): void;
}

export type ImplName = 'hierarchical' | 'hierarchical-id' | 'hashed' | 'setTimeout' | 'timer-wheel';

export function makeImpl(name: ImplName): TimerImpl {
  switch (name) {
    case 'hierarchical-id': {
      const wheel = new HierarchicalWheel();
      return {
        name,
        schedule: (callback, delay) => wheel.schedule(callback, delay),
        cancel: (id) => wheel.cancel(id as number),
        dispose: () => wheel.close(),
      };
    }
    case 'hierarchical':
    case 'hashed': {
      const wheel = name === 'hierarchical' ? new HierarchicalWheel() : new HashedWheel();
      return {
        name,
        schedule: (callback, delay) => wheel.setTimeout(callback, delay),
        cancel: (handle) => (handle as { cancel(): boolean }).cancel(),
        dispose: () => wheel.close(),
      };
    }
    case 'setTimeout':
      return {
        name,
        schedule: (callback, delay) => setTimeout(callback, delay),
        cancel: (handle) => clearTimeout(handle as NodeJS.Timeout),
        dispose: (handles) => handles.forEach((handle) => clearTimeout(handle as NodeJS.Timeout)),
      };
    case 'timer-wheel': {
      // Not self-driving: the user calls advance(); only scheduling, cancelling and memory compare.
      const wheel = new ActionTimerWheel();
      return {
        name,
        schedule: (callback, delay) => wheel.schedule(callback, delay),
        cancel: (handle) => (handle as { remove(): void }).remove(),
        dispose: (handles) => handles.forEach((handle) => (handle as { remove(): void }).remove()),
      };
    }
  }
}

/** `count` distinct delays spread over 1-600 s, in a fixed shuffled order (the same for every implementation). */
export function distinctDelays(count: number): Float64Array {
  const delays = new Float64Array(count);
  for (let i = 0; i < count; i++) delays[i] = 1_000 + (i * 599_000) / count;
  let seed = 12345;
  for (let i = count - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [delays[i], delays[j]] = [delays[j]!, delays[i]!];
  }
  return delays;
}
