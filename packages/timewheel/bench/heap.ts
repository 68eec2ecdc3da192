import { execFileSync } from 'node:child_process';
import { type ImplName, distinctDelays, makeImpl } from './implementations.js';

const noop = (): void => undefined;

/**
 * Heap bytes per pending timer, measured in a fresh process with --expose-gc (a clean heap, nothing else
 * alive): heap after scheduling `count` timers and keeping their handles, minus heap before, over `count`.
 * The handle array the caller keeps (8 bytes a timer) is included for every implementation alike.
 */
export function heapBytesPerTimer(name: ImplName, count: number): number {
  const out = execFileSync(process.execPath, ['--expose-gc', __filename, name, String(count)], { encoding: 'utf8' });
  return Number(out.trim());
}

function measureHere(name: ImplName, count: number): number {
  const gc = (globalThis as { gc?: () => void }).gc!;
  // Typed-array storage lives outside the JS heap (arrayBuffers); it counts as much as objects do.
  const used = (): number => {
    gc();
    gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  const delays = distinctDelays(count);
  const handles: unknown[] = new Array(count).fill(undefined);
  const impl = makeImpl(name);
  const before = used();
  for (let i = 0; i < count; i++) handles[i] = impl.schedule(noop, delays[i]!);
  const after = used();
  impl.dispose(handles);
  return (after - before) / count;
}

if (require.main === module) {
  const [name, count] = process.argv.slice(2) as [ImplName, string];
  process.stdout.write(`${measureHere(name, Number(count))}\n`);
}
