/** CPU placement of the calling thread: sched_setaffinity (pid 0 means "this thread", not the process). */
import { check } from './check.js';
import { declare } from './library.js';

const setAffinity = declare<(pid: number, size: number, mask: Buffer) => number>('int sched_setaffinity(int, unsigned long, const uint8_t *mask)');
const getCpu = declare<() => number>('int sched_getcpu()');

const MASK_BYTES = 128; // 1024 CPUs, glibc's cpu_set_t

/** Pins the calling thread to the given CPUs. */
export function pinCurrentThread(cpus: readonly number[]): void {
  const mask = Buffer.alloc(MASK_BYTES);
  for (const cpu of cpus) mask.writeUInt8(mask.readUInt8(cpu >> 3) | (1 << (cpu & 7)), cpu >> 3);
  check('sched_setaffinity', setAffinity.native(0, MASK_BYTES, mask));
}

/** The CPU the calling thread is running on right now. */
export function currentCpu(): number {
  return check('sched_getcpu', getCpu.native());
}
