/**
 * The reactor threads of a server, TCP or UDP: started one by one on one port (the first picks it when 0 was
 * asked, the others join its SO_REUSEPORT group), asked to stop through each one's command ring and wake fd,
 * terminated when they do not stop, and cleaned up after: whatever a thread that ended left open is closed here.
 */
import { Worker } from 'node:worker_threads';
import { SpscRing, systemClock } from '@x/core';
import { SocketStateError } from './errors.js';
import { FdLedger } from './fd-ledger.js';
import { signalEventFd } from './libc/io.js';
import { type ReactorMessage, type SharedWithThread, errorFromThread } from './worker-protocol.js';

export interface ReactorThreadsOptions<D> {
  /** How messages name the server: 'server', 'UDP server'. */
  serverName: string;
  /** The thread entry's compiled file. */
  entry: string;
  count: number;
  /** The workerData of reactor `id`, which binds `host:port`. */
  workerData(id: number, host: string, port: number, shared: SharedWithThread): D;
  /** Reactor `id`'s thread ended leaving descriptors open, now closed: its counters of open things are stale. */
  onAbandoned?(id: number): void;
}

/** One reactor thread as the main thread sees it. */
export interface ThreadInfo {
  /** The CPU it is pinned to, if any. */
  cpu: number | undefined;
  /** False once its thread has ended (after stop(), or before, when its handler ended it). */
  running: boolean;
}

interface RunningReactor {
  worker: Worker;
  wakeFd: number;
  commands: SpscRing;
  cpu: number | undefined;
  exited: Promise<void>;
  ended: boolean;
}

export class ReactorThreads<D> {
  private readonly reactors: RunningReactor[] = [];
  /** Threads started and not yet bound: stop() terminates them (a handler module that never finishes loading). */
  private readonly startingWorkers = new Set<Worker>();
  private readonly ledger = new FdLedger();
  private starting: Promise<unknown> | undefined;
  private stopping = false;

  constructor(private readonly options: ReactorThreadsOptions<D>) {}

  /**
   * Starts the threads one by one; resolves with the address once every reactor serves. Rejects when a thread
   * fails (handler module missing, port in use), or at its next step once stop() was called.
   */
  start(host: string, port: number): Promise<{ host: string; port: number }> {
    const started = this.startAll(host, port);
    this.starting = started;
    return started;
  }

  /** Reactor `id`'s placement and whether its thread still runs. */
  info(id: number): ThreadInfo {
    const reactor = this.reactors[id];
    return { cpu: reactor?.cpu, running: reactor !== undefined && !reactor.ended };
  }

  /**
   * Ends every thread: a start under way stops at its next step, then each thread gets `commands` on its ring
   * and a wake-up; a thread still running `terminateAfterMs` later (a handler stuck in a loop) is terminated.
   * Resolves once all have exited and what they left open is closed.
   */
  async stop(commands: readonly number[], terminateAfterMs: number): Promise<void> {
    this.stopping = true;
    for (const worker of this.startingWorkers) void worker.terminate();
    await this.starting?.catch(() => undefined);
    for (const reactor of this.reactors) {
      for (const command of commands) reactor.commands.tryPush(command);
      signalEventFd(reactor.wakeFd);
    }
    // The clock's timer, not setTimeout: a grace past 2^31-1 ms would overflow setTimeout, which fires at once.
    const deadline = systemClock.setTimer(() => this.reactors.forEach((reactor) => void reactor.worker.terminate()), terminateAfterMs);
    try {
      await Promise.all(this.reactors.map((reactor) => reactor.exited));
    } finally {
      deadline.cancel();
    }
  }

  private async startAll(host: string, port: number): Promise<{ host: string; port: number }> {
    let bound: { host: string; port: number } | undefined;
    for (let id = 0; id < this.options.count; id++) {
      this.checkNotStopping();
      const started = await this.startOne(id, host, port);
      port = started.port;
      bound ??= started;
    }
    this.checkNotStopping();
    return bound!;
  }

  private checkNotStopping(): void {
    if (this.stopping) throw new SocketStateError(`the ${this.options.serverName} was closed while it was starting`);
  }

  private startOne(id: number, host: string, port: number): Promise<{ host: string; port: number }> {
    const commands = SpscRing.create(16);
    const data = this.options.workerData(id, host, port, { commandBuffer: commands.buffer, fdBuffer: this.ledger.buffer });
    const worker = new Worker(this.options.entry, { workerData: data });
    this.startingWorkers.add(worker);
    let running: RunningReactor | undefined;
    const exited = new Promise<void>((done) =>
      worker.once('exit', () => {
        this.startingWorkers.delete(worker);
        // Threads share descriptors: what this one left open (it was terminated, or a handler called
        // process.exit()) would stay open for the whole process, a listener still taking its share of the port.
        if (this.ledger.closeAll(id) > 0) this.options.onAbandoned?.(id);
        if (running !== undefined) running.ended = true;
        done();
      }),
    );
    return new Promise((resolveStart, rejectStart) => {
      let failure: unknown;
      // A failed start is reported once the thread has exited, so the caller never sees its resources still open.
      worker.once('error', (error) => (failure ??= error));
      worker.once('exit', (code) => {
        const closed = this.stopping ? new SocketStateError(`the ${this.options.serverName} was closed while it was starting`) : undefined;
        rejectStart(failure ?? closed ?? new SocketStateError(`reactor ${id} of the ${this.options.serverName} exited with code ${code} before it was bound`));
      });
      worker.on('message', (message: ReactorMessage) => {
        // The handler's code shares this channel (parentPort): anything but the reactor's own messages is ignored.
        if (typeof message !== 'object' || message === null) return;
        if (message.type === 'failed') {
          if (typeof message.error === 'object' && message.error !== null) failure ??= errorFromThread(message.error);
          return;
        }
        if (message.type !== 'listening' || typeof message.port !== 'number' || running !== undefined) return;
        this.startingWorkers.delete(worker);
        running = { worker, wakeFd: message.wakeFd, commands, cpu: message.cpu, exited, ended: false };
        this.reactors.push(running);
        resolveStart({ host: message.host, port: message.port });
      });
    });
  }
}
