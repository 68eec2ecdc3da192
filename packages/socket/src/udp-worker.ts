/**
 * The entry of each reactor thread started by `createUdpServer`: pin the thread if asked, load the handler
 * module, bind this reactor's socket into the port's SO_REUSEPORT group, report the address, then run the loop
 * until the main thread asks it to stop through the command ring (and wakes the loop through the eventfd).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '@x/core';
import { FdLedger } from './fd-ledger.js';
import { type SocketAddress } from './libc/address.js';
import { pinCurrentThread } from './libc/affinity.js';
import { resolveHandler } from './server-common.js';
import { UdpStats } from './stats.js';
import { type UdpHandler, type UdpHandlerModule } from './udp-handler.js';
import { UdpReactor } from './udp-reactor.js';
import { Command, type ReactorMessage, type UdpWorkerData, errorToThread } from './worker-protocol.js';

async function main(data: UdpWorkerData): Promise<void> {
  if (data.pinCpu !== undefined) pinCurrentThread([data.pinCpu]);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(data.handlerModule) as UdpHandlerModule;
  const handler = resolveHandler<UdpHandler>(module, { reactorId: data.id, pinnedCpu: data.pinCpu, options: data.handlerOptions });
  const fds = new FdLedger(data.fdBuffer).owner(data.id);
  const reactor = new UdpReactor(handler, { ...data.reactor, id: data.id, stats: new UdpStats(data.reactors, data.statsBuffer), fds });
  const commands = SpscRing.attach(data.commandBuffer);
  reactor.onWake = () => {
    for (let command = commands.tryPop(); command !== undefined; command = commands.tryPop()) {
      if (command === Command.Stop || command === Command.Shutdown) reactor.stop();
    }
  };
  // Errors of the handler's other code (timers, events, a promise nobody awaited) would end this thread and
  // leave its socket bound with nobody reading it: count them and give them to onError instead.
  process.on('uncaughtException', (error) => reactor.handlerFailed(error, undefined));
  process.on('unhandledRejection', (error) => reactor.handlerFailed(error, undefined));
  let address;
  try {
    address = bind(reactor, data);
  } catch (error) {
    reactor.stop();
    throw error;
  }
  const message: ReactorMessage = { type: 'listening', host: address.host, port: address.port, wakeFd: reactor.wakeupFd, cpu: data.pinCpu };
  parentPort!.postMessage(message);
  await reactor.run();
}

function bind(reactor: UdpReactor, data: UdpWorkerData): SocketAddress {
  return reactor.bind(data.host, data.port, {
    reusePort: true,
    ...(data.steering === 'incoming-cpu' && data.pinCpu !== undefined ? { incomingCpu: data.pinCpu } : {}),
    // One program serves the whole group; the first reactor attaches it before the others join.
    ...(data.steering === 'cpu-bpf' && data.id === 0 ? { cpuSteeringProgram: true } : {}),
  });
}

main(workerData as UdpWorkerData).catch((error: unknown) => {
  const message: ReactorMessage = { type: 'failed', error: errorToThread(error) };
  parentPort!.postMessage(message);
});
