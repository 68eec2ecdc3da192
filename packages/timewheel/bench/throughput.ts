import { HierarchicalWheel, type TimerWheelOptions } from '@x/timewheel';
import { type ImplName, distinctDelays, makeImpl } from './implementations.js';

const noop = (): void => undefined;

/**
 * What delays a run's timers have: distinct (1-600 s, shuffled), the same ones in ascending order, or all the
 * same (30 s, a request timeout).
 */
export type DelayKind = 'distinct' | 'sorted' | 'same';

/** The delays of a run of `count` timers. */
export function delaysOf(kind: DelayKind, count: number): Float64Array {
  if (kind === 'same') return new Float64Array(count).fill(30_000);
  const delays = distinctDelays(count);
  return kind === 'sorted' ? delays.sort() : delays;
}

/** Schedules `count` timers (delays: distinct unless told otherwise); returns schedules per second. */
export function schedulePerSecond(name: ImplName, count: number, kind: DelayKind = 'distinct'): number {
  const delays = delaysOf(kind, count);
  const impl = makeImpl(name);
  const handles: unknown[] = new Array(count).fill(undefined);
  const started = performance.now();
  for (let i = 0; i < count; i++) handles[i] = impl.schedule(noop, delays[i]!);
  const elapsed = performance.now() - started;
  impl.dispose(handles);
  return count / (elapsed / 1000);
}

/** Schedules `count` timers, then cancels every other one; returns cancels per second. */
export function cancelPerSecond(name: ImplName, count: number): number {
  const delays = distinctDelays(count);
  const impl = makeImpl(name);
  const handles: unknown[] = new Array(count).fill(undefined);
  for (let i = 0; i < count; i++) handles[i] = impl.schedule(noop, delays[i]!);
  const started = performance.now();
  for (let i = 0; i < count; i += 2) impl.cancel(handles[i]);
  const elapsed = performance.now() - started;
  impl.dispose(handles);
  return count / 2 / (elapsed / 1000);
}

/**
 * A new HierarchicalWheel made with `options`: schedules per second (ids, distinct shuffled delays) of its first
 * `count` timers, and of `count` more after those were cancelled (the storage has grown and been written).
 */
export function fillRates(count: number, options: TimerWheelOptions): { first: number; refill: number } {
  const delays = distinctDelays(count);
  const ids = new Float64Array(count);
  const wheel = new HierarchicalWheel(options);
  const fill = (): number => {
    const started = performance.now();
    for (let i = 0; i < count; i++) ids[i] = wheel.schedule(noop, delays[i]!);
    return count / ((performance.now() - started) / 1000);
  };
  const first = fill();
  for (let i = 0; i < count; i++) wheel.cancel(ids[i]!);
  const refill = fill();
  wheel.close();
  return { first, refill };
}
