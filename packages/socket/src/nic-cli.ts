#!/usr/bin/env node
/**
 * x-socket-irq IFACE [--cpus=0-3] [--apply]
 * Shows each queue IRQ of IFACE and its CPUs, and the spread one IRQ per CPU would make. Changes nothing unless
 * --apply is given (root only).
 */
import { availableParallelism } from 'node:os';
import { applyIrqSpread, parseCpuList, planIrqSpread, readNicQueues } from './nic.js';

function main(argv: string[]): number {
  const iface = argv.find((arg) => !arg.startsWith('--'));
  if (iface === undefined) {
    console.error('usage: x-socket-irq IFACE [--cpus=0-3] [--apply]');
    return 2;
  }
  const cpuArg = argv.find((arg) => arg.startsWith('--cpus='))?.slice(7);
  const cpus = cpuArg === undefined ? Array.from({ length: availableParallelism() }, (_, i) => i) : parseCpuList(cpuArg);
  const nic = readNicQueues(iface);
  console.log(`${nic.iface}: ${nic.rxQueues} rx queue(s), ${nic.txQueues} tx queue(s)`);
  for (const irq of nic.irqs) console.log(`  irq ${String(irq.irq).padStart(4)}  ${irq.name.padEnd(24)} ${irq.kind.padEnd(5)} cpus ${irq.cpus.join(',') || '?'}`);
  const moves = planIrqSpread(nic, cpus);
  if (moves.length === 0) {
    console.log(`already spread one per CPU over ${cpus.join(',')}`);
    return 0;
  }
  for (const move of moves) console.log(`  ${argv.includes('--apply') ? 'moving' : 'would move'} irq ${move.irq} (${move.name}): ${move.from.join(',') || '?'} -> ${move.to.join(',')}`);
  if (argv.includes('--apply')) applyIrqSpread(moves);
  else console.log('dry run: add --apply (as root) to change it');
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
