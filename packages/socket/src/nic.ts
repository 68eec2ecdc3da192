/**
 * The NIC side of per-CPU reactors: which IRQ serves each RX/TX queue of an interface and which CPUs it may run
 * on, and a plan that spreads those IRQs one per CPU to match the reactors. Reads /sys/class/net and
 * /proc/interrupts, writes /proc/irq/N/smp_affinity_list only when asked (root, not a dry run).
 */
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InvalidArgumentError, assertString } from '@x/core';
import { SocketStateError } from './errors.js';

/** One interrupt line of an interface. */
export interface NicIrq {
  irq: number;
  /** Its name in /proc/interrupts, e.g. `eth0-TxRx-3` or `virtio2-input.0`. */
  name: string;
  /** Queue index, when the name carries one. */
  queue: number | undefined;
  kind: 'rx' | 'tx' | 'rxtx' | 'other';
  /** CPUs it may run on (smp_affinity_list). */
  cpus: number[];
}

/** What {@link readNicQueues} found. */
export interface NicQueues {
  iface: string;
  rxQueues: number;
  txQueues: number;
  irqs: NicIrq[];
}

/** Parses a CPU list such as `0-3,8,10-11`. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [from, to = from] = part.split('-').map((n) => Number.parseInt(n, 10)) as [number, number?];
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) throw new InvalidArgumentError('cpu list', text, 'a list like 0-3,8');
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

function classify(name: string): { queue: number | undefined; kind: NicIrq['kind'] } {
  const queue = /(\d+)$/.exec(name);
  const lower = name.toLowerCase();
  const kind = /txrx|rxtx|combined/.test(lower) ? 'rxtx' : /rx|input/.test(lower) ? 'rx' : /tx|output/.test(lower) ? 'tx' : 'other';
  return { queue: queue === null || kind === 'other' ? undefined : Number(queue[1]), kind };
}

/**
 * Reads the queues and IRQs of `iface`. `root` replaces `/` (tests point it at a directory shaped like /proc and
 * /sys). IRQs are those named after the interface (`eth0-TxRx-0`) or, for virtio NICs, after its virtio device
 * (`virtio2-input.0`).
 */
export function readNicQueues(iface: string, root = '/'): NicQueues {
  assertString('iface', iface);
  if (!/^[\w.:-]+$/.test(iface)) throw new InvalidArgumentError('iface', iface, 'an interface name');
  const netDir = join(root, 'sys/class/net', iface);
  let queues: string[];
  try {
    queues = readdirSync(join(netDir, 'queues'));
  } catch {
    throw new InvalidArgumentError('iface', iface, `an interface listed in ${join(root, 'sys/class/net')}`);
  }
  const prefixes = [`${iface}-`, `${iface}_`];
  try {
    prefixes.push(`${basename(readlinkSync(join(netDir, 'device')))}-`);
  } catch {
    // Virtual interfaces have no device.
  }
  const irqs: NicIrq[] = [];
  for (const line of readFileSync(join(root, 'proc/interrupts'), 'utf8').split('\n')) {
    const match = /^\s*(\d+):.*\s(\S+)\s*$/.exec(line);
    if (match === null) continue;
    const name = match[2]!;
    if (!prefixes.some((prefix) => name.startsWith(prefix))) continue;
    const { queue, kind } = classify(name.slice(name.indexOf('-') + 1));
    if (kind === 'other') continue;
    const irq = Number(match[1]);
    let cpus: number[] = [];
    try {
      cpus = parseCpuList(readFileSync(join(root, 'proc/irq', String(irq), 'smp_affinity_list'), 'utf8'));
    } catch {
      // Not readable (permissions, or the IRQ went away): reported with no CPUs.
    }
    irqs.push({ irq, name, queue, kind, cpus });
  }
  irqs.sort((a, b) => (a.queue ?? 0) - (b.queue ?? 0) || a.kind.localeCompare(b.kind));
  return {
    iface,
    rxQueues: queues.filter((queue) => queue.startsWith('rx-')).length,
    txQueues: queues.filter((queue) => queue.startsWith('tx-')).length,
    irqs,
  };
}

/** One change of a plan: move `irq` from `from` to `to`. */
export interface IrqMove {
  irq: number;
  name: string;
  from: number[];
  to: number[];
}

/**
 * Spreads the queue IRQs over `cpus`: queue q goes to `cpus[q % cpus.length]` (RX and TX of one queue stay
 * together, so a connection's packets and its reactor share a core). Only IRQs whose CPUs change are listed.
 */
export function planIrqSpread(nic: NicQueues, cpus: readonly number[]): IrqMove[] {
  if (cpus.length === 0) throw new InvalidArgumentError('cpus', cpus, 'at least one CPU');
  const moves: IrqMove[] = [];
  for (const irq of nic.irqs) {
    const to = [cpus[(irq.queue ?? 0) % cpus.length]!];
    if (irq.cpus.length === 1 && irq.cpus[0] === to[0]) continue;
    moves.push({ irq: irq.irq, name: irq.name, from: irq.cpus, to });
  }
  return moves;
}

/** Writes a plan to /proc/irq/N/smp_affinity_list. Needs root; `root` as for {@link readNicQueues}. */
export function applyIrqSpread(moves: readonly IrqMove[], root = '/'): void {
  if (root === '/' && process.getuid?.() !== 0) throw new SocketStateError('changing IRQ affinity needs root');
  for (const move of moves) writeFileSync(join(root, 'proc/irq', String(move.irq), 'smp_affinity_list'), `${move.to.join(',')}\n`);
}
