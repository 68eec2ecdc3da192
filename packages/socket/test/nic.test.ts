import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyIrqSpread, parseCpuList, planIrqSpread, readNicQueues } from '../src/index.js';

/** A directory shaped like / for one 4-queue NIC (names as ixgbe writes them) and one virtio NIC. */
function fakeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'x-socket-nic-'));
  const queues = (iface: string, count: number): void => {
    for (let q = 0; q < count; q++) {
      mkdirSync(join(root, 'sys/class/net', iface, 'queues', `rx-${q}`), { recursive: true });
      mkdirSync(join(root, 'sys/class/net', iface, 'queues', `tx-${q}`), { recursive: true });
    }
  };
  queues('eth1', 4);
  queues('ens3', 1);
  mkdirSync(join(root, 'sys/devices/virtio7'), { recursive: true });
  symlinkSync(join(root, 'sys/devices/virtio7'), join(root, 'sys/class/net/ens3/device'));
  const irqs: [number, string, string][] = [
    [40, 'eth1-TxRx-0', '0-7'],
    [41, 'eth1-TxRx-1', '0-7'],
    [42, 'eth1-TxRx-2', '2'],
    [43, 'eth1-TxRx-3', '0-7'],
    [44, 'eth1', '0'],
    [50, 'virtio7-config', '0'],
    [51, 'virtio7-input.0', '1'],
    [52, 'virtio7-output.0', '0-1'],
    [60, 'eth10-TxRx-0', '0'],
  ];
  mkdirSync(join(root, 'proc'), { recursive: true });
  writeFileSync(
    join(root, 'proc/interrupts'),
    ['           CPU0       CPU1', ...irqs.map(([irq, name]) => ` ${irq}:  10  20  PCI-MSI 524288-edge      ${name}`), 'NMI:  0  0  Non-maskable interrupts'].join('\n'),
  );
  for (const [irq, , cpus] of irqs) {
    mkdirSync(join(root, 'proc/irq', String(irq)), { recursive: true });
    writeFileSync(join(root, 'proc/irq', String(irq), 'smp_affinity_list'), `${cpus}\n`);
  }
  return root;
}

describe('NIC queues and IRQ spreading', () => {
  let root: string;
  beforeEach(() => (root = fakeRoot()));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds the queue IRQs of an interface and their CPUs, and nothing of a similarly named one', () => {
    const nic = readNicQueues('eth1', root);
    expect(nic.rxQueues).toBe(4);
    expect(nic.txQueues).toBe(4);
    expect(nic.irqs.map((irq) => [irq.irq, irq.queue, irq.kind, irq.cpus])).toEqual([
      [40, 0, 'rxtx', [0, 1, 2, 3, 4, 5, 6, 7]],
      [41, 1, 'rxtx', [0, 1, 2, 3, 4, 5, 6, 7]],
      [42, 2, 'rxtx', [2]],
      [43, 3, 'rxtx', [0, 1, 2, 3, 4, 5, 6, 7]],
    ]);
  });

  it('maps a virtio NIC through its device name', () => {
    const nic = readNicQueues('ens3', root);
    expect(nic.irqs.map((irq) => [irq.name, irq.kind, irq.queue])).toEqual([
      ['virtio7-input.0', 'rx', 0],
      ['virtio7-output.0', 'tx', 0],
    ]);
  });

  it('plans one queue per CPU, lists only real changes, and applies the plan', () => {
    const nic = readNicQueues('eth1', root);
    const moves = planIrqSpread(nic, [0, 1, 2, 3]);
    expect(moves.map((move) => [move.irq, move.to])).toEqual([
      [40, [0]],
      [41, [1]],
      [43, [3]],
    ]);
    applyIrqSpread(moves, root);
    expect(readFileSync(join(root, 'proc/irq/41/smp_affinity_list'), 'utf8').trim()).toBe('1');
    expect(planIrqSpread(readNicQueues('eth1', root), [0, 1, 2, 3])).toEqual([]);
  });

  it('refuses unknown interfaces, odd names, empty CPU sets and bad CPU lists with typed errors', () => {
    expect(() => readNicQueues('wlan9', root)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'iface' }));
    expect(() => readNicQueues('../etc', root)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => planIrqSpread(readNicQueues('eth1', root), [])).toThrow(expect.objectContaining({ argument: 'cpus' }));
    expect(parseCpuList('0-2,5,7-8')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(() => parseCpuList('3-1')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it("reads this machine's real interface without changing anything", () => {
    const iface = readdirSync('/sys/class/net').find((name) => name !== 'lo' && readdirSync(`/sys/class/net/${name}/queues`).some((q) => q.startsWith('rx-')));
    expect(iface).toBeDefined();
    const affinity = (irq: number): string => readFileSync(`/proc/irq/${irq}/smp_affinity_list`, 'utf8').trim();
    const nic = readNicQueues(iface!);
    expect(nic.rxQueues).toBe(readdirSync(`/sys/class/net/${iface}/queues`).filter((q) => q.startsWith('rx-')).length);
    const before = nic.irqs.map((irq) => affinity(irq.irq));
    for (const irq of nic.irqs) expect(irq.cpus).toEqual(parseCpuList(affinity(irq.irq)));
    planIrqSpread(nic, [0]);
    expect(nic.irqs.map((irq) => affinity(irq.irq))).toEqual(before);
  });
});
