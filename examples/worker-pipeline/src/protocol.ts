/** What the main thread and the workers agree on. */

/** Numbers per job: a worker counts the primes in [start, start + JOB_SIZE). */
export const JOB_SIZE = 50_000;
/** Pushed instead of a job start to tell a worker there is no more work. */
export const NO_MORE_WORK = -1;
/** Counter slots per worker in the shared PaddedCounters: jobs done, primes found. */
export const SLOTS = 2;
/** The counter after the workers' slots: set to 1 by the main thread on Ctrl-C; workers stop before their next job. */
export function stopSlot(workers: number): number {
  return workers * SLOTS;
}

export interface WorkerInput {
  ring: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  workers: number;
  index: number;
}
