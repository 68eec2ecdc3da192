/**
 * Opens CONNECTIONS loopback connections to an echo server that closes idle ones after IDLE_MS. A third of the
 * clients keep talking, a third go quiet (the server must close them), a third hang up themselves. At the end
 * the server's counts must match exactly.
 *
 *   npm start                               # 1,000 connections, 300 ms idle timeout
 *   CONNECTIONS=10000 IDLE_MS=500 npm start
 */
import { type AddressInfo, connect } from 'node:net';
import { ResourceStack, assertNumber, sleep, timeoutSignal } from '@x/core';
import { HierarchicalWheel } from '@x/timewheel';
import { startIdleServer } from './server.js';

type Behaviour = 'chatty' | 'quiet' | 'hangs-up';

async function main(): Promise<void> {
  const connections = assertNumber('CONNECTIONS', Number(process.env.CONNECTIONS ?? 1_000), { min: 3, max: 50_000, integer: true });
  const idleMs = assertNumber('IDLE_MS', Number(process.env.IDLE_MS ?? 300), { min: 50, integer: true });
  await using resources = new ResourceStack();
  const wheel = resources.use(new HierarchicalWheel());
  const { server, stats } = startIdleServer(idleMs, wheel);
  // A backlog as large as the burst of connections: past a full accept queue the kernel drops the handshake's
  // last ACK, and the client believes it is connected to a server that never accepted it.
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: connections }, resolve));
  resources.defer(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;

  const behaviours: Behaviour[] = ['chatty', 'quiet', 'hangs-up'];
  const clients = Array.from({ length: connections }, (_, i) => runClient(port, behaviours[i % 3]!, idleMs));
  const progress = setInterval(() => {
    console.log(`open ${stats.accepted - stats.closedIdle - stats.closedByPeer}, closed idle ${stats.closedIdle}, closed by peer ${stats.closedByPeer}, wheel timers ${wheel.size}`);
  }, idleMs / 2);
  resources.defer(() => clearInterval(progress));
  const deadline = timeoutSignal(idleMs * 20 + connections * 5);
  resources.defer(() => deadline.dispose());
  const outcomes = await Promise.race([
    Promise.all(clients),
    new Promise<never>((_, reject) => deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason))),
  ]);

  const expectIdle = outcomes.filter((o) => o === 'closed-by-server').length;
  const expectPeer = connections - expectIdle;
  console.log(`\naccepted ${stats.accepted}, closed for idleness ${stats.closedIdle} (expected ${expectIdle}), closed by peer ${stats.closedByPeer} (expected ${expectPeer}), echoed ${stats.echoedBytes} bytes`);
  console.log(`wheel: ${JSON.stringify(wheel.stats())}`);
  if (stats.closedIdle !== expectIdle || stats.closedByPeer !== expectPeer || wheel.size !== 0) {
    console.error('MISMATCH');
    process.exitCode = 1;
  }
}

type Outcome = 'closed-by-server' | 'closed-by-client';

/**
 * Chatty clients talk past the idle limit, then hang up; quiet ones wait to be closed; the rest hang up at once.
 * Each reports who closed the connection as it saw it: the server's farewell line, or a reset when the server
 * closed while it was still writing (an event loop stalled longer than the idle limit makes a chatty client idle).
 */
function runClient(port: number, behaviour: Behaviour, idleMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    let outcome: Outcome | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (received += text));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') outcome = 'closed-by-server';
      else reject(new Error(`${behaviour} client: ${error.message}`));
    });
    socket.on('close', () => resolve(outcome ?? (received.includes('idle timeout') ? 'closed-by-server' : 'closed-by-client')));
    socket.on('connect', async () => {
      if (behaviour === 'hangs-up') {
        socket.end();
      } else if (behaviour === 'chatty') {
        // Keep talking for twice the idle limit, a quarter of the limit between messages.
        for (let sent = 0; sent < 8 && !socket.destroyed && socket.writable; sent++) {
          socket.write('ping\n');
          await sleep(idleMs / 4);
        }
        socket.end();
      }
    });
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
