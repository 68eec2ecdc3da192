import { readFileSync } from 'node:fs';

/** Used when the kernel does not say (non-Linux, containers without sysfs): right for x86-64 and most ARM64. */
export const DEFAULT_CACHE_LINE_SIZE = 64;

const SYSFS_LINE_SIZE = '/sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size';

let cached: number | undefined;

/**
 * The CPU's coherency line size in bytes, read once from sysfs; {@link DEFAULT_CACHE_LINE_SIZE} when unknown.
 * Two values written by different threads must sit on different lines, or every write steals the line from
 * the other core (false sharing).
 *
 * @example
 * ```ts
 * const stride = cacheLineSize(); // 64 on x86-64, 128 on Apple M-series under Linux
 * ```
 */
export function cacheLineSize(): number {
  cached ??= readLineSize(SYSFS_LINE_SIZE);
  return cached;
}

/** Reads a line size from `path`, accepting only a power of two in [16, 1024]. Exported for tests. */
export function readLineSize(path: string): number {
  try {
    const size = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    const isPowerOfTwo = Number.isInteger(size) && size >= 16 && size <= 1024 && (size & (size - 1)) === 0;
    return isPowerOfTwo ? size : DEFAULT_CACHE_LINE_SIZE;
  } catch {
    return DEFAULT_CACHE_LINE_SIZE;
  }
}
