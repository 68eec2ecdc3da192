/**
 * The entry of each reactor thread started by `createServer`: pin the thread if asked, load the handler module,
 * bind this reactor's SO_REUSEPORT listener, report the address, then run the loop until the main thread asks
 * to stop through the command ring (and wakes the loop through the eventfd).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '@x/core';
import { type Handler, type HandlerModule } from './handler.js';
import { resolveHandler } from './server-common.js';
import { FdLedger } from './fd-ledger.js';
import { pinCurrentThread } from './libc/affinity.js';
import { Reactor } from './reactor.js';
import { ReactorStats } from './stats.js';
import { Command, type ReactorMessage, type ReactorWorkerData, errorToThread } from './worker-protocol.js';

/** A proxy reactor's connections are all spliced pairs; no handler is ever called. */
const PROXY_ONLY: Handler = { onData: () => undefined };

async function main(data: ReactorWorkerData): Promise<void> {
  if (data.pinCpu !== undefined) pinCurrentThread([data.pinCpu]);
  const handler =
    data.handlerModule === undefined
      ? PROXY_ONLY
      : // eslint-disable-next-line @typescript-eslint/no-require-imports
        resolveHandler(require(data.handlerModule) as HandlerModule, { reactorId: data.id, pinnedCpu: data.pinCpu, options: data.handlerOptions });
  const stats = new ReactorStats(data.reactors, data.statsBuffer);
  const fds = new FdLedger(data.fdBuffer).owner(data.id);
  const reactor = new Reactor(handler, { ...data.reactor, id: data.id, stats, fds });
  const commands = SpscRing.attach(data.commandBuffer);
  reactor.onWake = () => {
    for (let command = commands.tryPop(); command !== undefined; command = commands.tryPop()) {
      if (command === Command.Shutdown) reactor.shutdown(commands.tryPop() ?? 0);
      else if (command === Command.Stop) reactor.stop();
    }
  };
  // Errors of the handler's other code (timers, events, a promise nobody awaited) would end this thread, and with
  // it every connection it serves: counted as handler errors instead.
  process.on('uncaughtException', () => reactor.countHandlerError());
  process.on('unhandledRejection', () => reactor.countHandlerError());
  const address = reactor.listen(data.host, data.port, {
    reusePort: true,
    ...(data.backlog === undefined ? {} : { backlog: data.backlog }),
    ...(data.steering === 'incoming-cpu' && data.pinCpu !== undefined ? { incomingCpu: data.pinCpu } : {}),
    // One program serves the whole group; the first reactor attaches it before the others join.
    ...(data.steering === 'cpu-bpf' && data.id === 0 ? { cpuSteeringProgram: true } : {}),
  });
  const message: ReactorMessage = { type: 'listening', host: address.host, port: address.port, wakeFd: reactor.wakeupFd, cpu: data.pinCpu };
  parentPort!.postMessage(message);
  await reactor.run();
}

main(workerData as ReactorWorkerData).catch((error: unknown) => {
  const message: ReactorMessage = { type: 'failed', error: errorToThread(error) };
  parentPort!.postMessage(message);
});
