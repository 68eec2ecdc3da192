/**
 * The price of a system call here, from C and from a Node process through koffi, printed with the echo
 * figures. Echo requests are two system calls each (a read and a write), so where calls are expensive (page-table
 * isolation, some hypervisors) the gap between a JavaScript server and a C one is set mostly by how much more
 * each call costs a process as large as Node's, not by the JavaScript around the calls.
 */
import koffi from 'koffi';
import { median } from '@x/testkit';
import { buildC, runTool } from './processes.js';

export interface SyscallCost {
  /** ns per getppid() from a minimal C process. */
  c: number;
  /** ns per getppid() from this Node process through koffi. */
  koffi: number;
  /** ns per koffi call of a libc function that makes no system call (abs): koffi's own cost. */
  koffiAlone: number;
}

function nsPerCall(call: () => unknown, calls: number): number {
  for (let i = 0; i < calls / 10; i++) call();
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) call();
  return Number(process.hrtime.bigint() - start) / calls;
}

/** The Node side, run as `node syscall-cost.js` in a process of its own (pinned like the C side). */
function measureKoffi(): { koffi: number; koffiAlone: number } {
  const libc = koffi.load('libc.so.6');
  const getppid = libc.func('int getppid()') as () => number;
  const abs = libc.func('int abs(int)') as (value: number) => number;
  return { koffi: nsPerCall(() => getppid(), 1_000_000), koffiAlone: nsPerCall(() => abs(-1), 2_000_000) };
}

/** Medians of `rounds` alternating measurements, each in a fresh process pinned to `cpu`. */
export function measureSyscallCost(cpu: string, rounds = 5): SyscallCost {
  const binary = buildC('syscall-cost');
  const c: number[] = [];
  const viaKoffi: number[] = [];
  const koffiAlone: number[] = [];
  for (let round = 0; round < rounds; round++) {
    c.push(runTool<{ ns: number }>(binary, ['1000000'], cpu).ns);
    const node = runTool<{ koffi: number; koffiAlone: number }>(process.execPath, [__filename], cpu);
    viaKoffi.push(node.koffi);
    koffiAlone.push(node.koffiAlone);
  }
  return { c: median(c), koffi: median(viaKoffi), koffiAlone: median(koffiAlone) };
}

if (require.main === module) console.log(JSON.stringify(measureKoffi()));
