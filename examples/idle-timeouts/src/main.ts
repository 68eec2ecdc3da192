/**
 * Opens CONNECTIONS loopback connections to an echo server that closes idle ones after IDLE_MS. A third of the
 * clients keep talking, a third go quiet (the server must close them), a third hang up themselves. At the end
 * the server's counts must match exactly.
 *
 *   npm start                               # 3,000 connections, 300 ms idle timeout
 *   CONNECTIONS=10000 IDLE_MS=500 npm start
 */
import { type AddressInfo, connect } from 'node:net';
import { ResourceStack, assertNumber, sleep } from '@x/core';
import { HierarchicalWheel } from '@x/timewheel';
import { startIdleServer } from './server.js';

type Behaviour = 'chatty' | 'quiet' | 'hangs-up';

async function main(): Promise<void> {
  const connections = assertNumber('CONNECTIONS', Number(process.env.CONNECTIONS ?? 3_000), { min: 3, max: 50_000, integer: true });
  const idleMs = assertNumber('IDLE_MS', Number(process.env.IDLE_MS ?? 300), { min: 50, integer: true });
  await using resources = new ResourceStack();
  const wheel = resources.use(new HierarchicalWheel());
  const { server, stats } = startIdleServer(idleMs, wheel);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  resources.defer(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;

  const behaviours: Behaviour[] = ['chatty', 'quiet', 'hangs-up'];
  const clients = Array.from({ length: connections }, (_, i) => runClient(port, behaviours[i % 3]!, idleMs));
  const progress = setInterval(() => {
    console.log(`open ${stats.accepted - stats.closedIdle - stats.closedByPeer}, closed idle ${stats.closedIdle}, closed by peer ${stats.closedByPeer}, wheel timers ${wheel.size}`);
  }, idleMs / 2);
  resources.defer(() => clearInterval(progress));
  const outcomes = await Promise.all(clients);

  const expectIdle = outcomes.filter((o) => o === 'quiet').length;
  const expectPeer = connections - expectIdle;
  console.log(`\naccepted ${stats.accepted}, closed for idleness ${stats.closedIdle} (expected ${expectIdle}), closed by peer ${stats.closedByPeer} (expected ${expectPeer}), echoed ${stats.echoedBytes} bytes`);
  console.log(`wheel: ${JSON.stringify(wheel.stats())}`);
  if (stats.closedIdle !== expectIdle || stats.closedByPeer !== expectPeer || wheel.size !== 0) {
    console.error('MISMATCH');
    process.exitCode = 1;
  }
}

/** Chatty clients talk past the idle limit, then hang up; quiet ones wait to be closed; the rest hang up at once. */
function runClient(port: number, behaviour: Behaviour, idleMs: number): Promise<Behaviour> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', reject);
    socket.on('close', () => resolve(behaviour));
    socket.on('connect', async () => {
      if (behaviour === 'hangs-up') {
        socket.end();
      } else if (behaviour === 'chatty') {
        // Keep talking for twice the idle limit, a little under half the limit between messages.
        for (let sent = 0; sent < (idleMs * 2) / (idleMs * 0.4); sent++) {
          socket.write('ping\n');
          await sleep(idleMs * 0.4);
        }
        socket.end();
      }
      socket.resume();
    });
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
