/**
 * A {@link KafkaClient} whose consumers run kafkajs in a worker thread. kafkajs decodes each fetched record
 * batch in one synchronous stretch (thousands of records when producers batch large), and on the thread that
 * runs the handlers every timer and I/O callback due meanwhile waits for it: measured here, such stretches of
 * 10-45 ms made 3-6 % of 5 ms handler sleeps take over 10 ms. With the consumer in a worker, a batch arrives as
 * one transferred buffer and the handlers' thread only slices it into records. Admins and producers (offset
 * lookups, dead letters) are ordinary kafkajs clients on the calling thread.
 */
import { resolve as resolvePath } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ClosedError, InvalidArgumentError } from '@x/core';
import type { KafkaConfig, Kafka as KafkaJs } from 'kafkajs';
import type { ClientAdmin, ClientBatchPayload, ClientConsumer, ClientEvent, ClientMessage, ClientProducer, KafkaClient, RecordHeaders } from './client.js';
import { NotConnectedError, WorkerExitedError } from './errors.js';
import { type FromWorker, type PackedBatch, type ToWorker, type WorkerClientData, errorFromMessage, errorToMessage } from './worker-protocol.js';

/** The compiled worker entry (tests run the sources, so the path is the package's dist either way). */
const WORKER_ENTRY = resolvePath(__dirname, '..', 'dist', 'worker-consumer-thread.js');
/** Records handed to `eachBatch` at a time (see WorkerThreadConsumer.handSlices). */
const SLICE = 500;
const EVENTS = { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' } as const;

type Listener = Parameters<ClientConsumer['on']>[1];
/**
 * Request ids, unique in the process: a thread runs one consumer after another, and a reply its last consumer
 * was still owed (a heartbeat that crossed the disconnect) must never answer a request of the next.
 */
let nextRequestId = 1;
/** Pause ids, unique in the process for the same reason (a batch may pause any number of times). */
let nextPauseId = 1;
type WorkerRequest = ToWorker extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

/** A {@link KafkaClient} whose consumers run kafkajs on worker threads; `close()` ends the thread it keeps. */
export interface WorkerThreadClient extends KafkaClient, AsyncDisposable {
  /**
   * Ends the idle thread kept for the next consumer; from then on no thread is kept (running consumers keep
   * theirs until they disconnect, and a consumer made later gets a thread of its own).
   */
  close(): Promise<void>;
}

/**
 * Makes a {@link KafkaClient} for `ParallelConsumer` whose consumer runs kafkajs on a worker thread.
 * `kafkaConfig` is kafkajs's `new Kafka(config)` argument; it is copied to the thread, so it must be plain data
 * (no `logCreator`, `socketFactory` or OAuth provider functions), and so must a consumer's `consumerConfig`.
 *
 * A consumer that disconnects cleanly leaves its thread to the next consumer the client makes, whose kafkajs then
 * runs on code the JIT has already compiled; the kept thread does not hold the process open, and `close()` ends it.
 *
 * @example
 * ```ts
 * const consumer = new ParallelConsumer({
 *   kafka: workerThreadClient({ clientId: 'orders', brokers: ['127.0.0.1:9092'] }),
 *   groupId: 'orders', topics: ['orders'], handler: async (record) => handle(record),
 * });
 * ```
 */
export function workerThreadClient(kafkaConfig: Record<string, unknown>, options: { statePollMs?: number } = {}): WorkerThreadClient {
  if (typeof kafkaConfig !== 'object' || kafkaConfig === null || Array.isArray(kafkaConfig)) {
    throw new InvalidArgumentError('kafkaConfig', kafkaConfig, "kafkajs's Kafka config (an object with brokers)");
  }
  mustCopy('kafkaConfig', kafkaConfig);
  const threads = new ThreadKeeper({ kafkaConfig, statePollMs: options.statePollMs ?? 50 });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka } = require('kafkajs') as { Kafka: typeof KafkaJs };
  const local = new Kafka(kafkaConfig as unknown as KafkaConfig);
  return {
    adapter: 'worker-thread',
    consumer: (consumerConfig) => {
      mustCopy('consumerConfig', consumerConfig);
      return new WorkerThreadConsumer(threads, consumerConfig);
    },
    admin: () => local.admin() as unknown as ClientAdmin,
    producer: (config) => local.producer(config) as unknown as ClientProducer,
    close: () => threads.close(),
    [Symbol.asyncDispose]: () => threads.close(),
  };
}

function mustCopy(name: string, value: Record<string, unknown>): void {
  try {
    structuredClone(value);
  } catch (error) {
    throw new InvalidArgumentError(name, value, `plain data that can be copied to a worker thread (${(error as Error).message})`);
  }
}

/** Starts a client's threads, and keeps one that a consumer left for the next consumer. */
class ThreadKeeper {
  private idle: Worker | undefined;
  /** After close(), threads are no longer kept: a consumer still running then ends its thread as it leaves. */
  private closed = false;
  /** An idle thread that dies is simply forgotten. */
  private readonly forget = (): void => {
    this.idle = undefined;
  };

  constructor(private readonly data: WorkerClientData) {}

  take(): Worker {
    const kept = this.idle;
    if (kept === undefined) return new Worker(WORKER_ENTRY, { workerData: this.data });
    this.idle = undefined;
    kept.off('exit', this.forget);
    kept.ref();
    return kept;
  }

  /** Keeps a thread whose consumer disconnected cleanly, unless one is kept already. */
  async give(worker: Worker): Promise<void> {
    if (this.idle !== undefined || this.closed) {
      await worker.terminate();
      return;
    }
    this.idle = worker;
    // An idle thread must not hold the process open.
    worker.unref();
    worker.once('exit', this.forget);
  }

  async close(): Promise<void> {
    this.closed = true;
    const kept = this.idle;
    this.idle = undefined;
    await kept?.terminate();
  }
}

/** The consumer side of the thread pair: a {@link ClientConsumer} that forwards to the worker thread. */
export class WorkerThreadConsumer implements ClientConsumer {
  readonly events = EVENTS;
  /** The thread, taken at connect(): a consumer made and never connected holds none (nor the process open). */
  private thread: Worker | undefined;
  /** Requests (and batch heartbeats) waiting for the worker's reply, by id. */
  private readonly replies = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<string, Listener[]>();
  /** isRunning()/isStale() of the batches being handled, as the worker last reported them. */
  private readonly batchStates = new Map<number, { running: boolean; stale: boolean }>();
  private eachBatch: ((payload: ClientBatchPayload) => Promise<void>) | undefined;
  private failure: Error | undefined;
  /** Set once disconnect() was asked for: the thread's end is then expected, not a crash. */
  private leaving = false;

  private readonly onWorkerMessage = (message: FromWorker): void => this.onMessage(message);
  // An uncaught error ends the thread ('exit' follows): the first of the two says why.
  private readonly onWorkerError = (error: Error): void => this.fail(error);
  private readonly onWorkerExit = (code: number): void => this.fail(new WorkerExitedError(code));

  constructor(
    private readonly threads: ThreadKeeper,
    private readonly consumerConfig: Record<string, unknown>,
  ) {}

  /** @internal The thread; tests end it to show what a consumer does when its thread dies. */
  get worker(): Worker {
    if (this.thread === undefined) throw new NotConnectedError();
    return this.thread;
  }

  connect(): Promise<void> {
    if (this.thread === undefined && this.failure === undefined && !this.leaving) {
      this.thread = this.threads.take();
      this.thread.on('message', this.onWorkerMessage);
      this.thread.on('error', this.onWorkerError);
      this.thread.on('exit', this.onWorkerExit);
    }
    return this.request({ type: 'connect', consumerConfig: this.consumerConfig });
  }

  subscribe(subscription: { topic: string; fromBeginning?: boolean }): Promise<void> {
    return this.request({ type: 'subscribe', subscription });
  }

  run(config: Parameters<ClientConsumer['run']>[0]): Promise<void> {
    const { eachBatch, ...rest } = config;
    this.eachBatch = eachBatch;
    return this.request({ type: 'run', config: rest });
  }

  commitOffsets(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void> {
    return this.request({ type: 'commit', offsets });
  }

  async disconnect(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    const worker = this.thread;
    if (worker === undefined) {
      // Never connected: nothing to leave, and from here on requests fail at once.
      this.failure ??= new ClosedError('the Kafka consumer');
      return;
    }
    let refused: { error: unknown } | undefined;
    if (this.failure === undefined) await this.request({ type: 'disconnect' }).catch((error: unknown) => (refused = { error }));
    const threadDied = this.failure !== undefined;
    worker.off('message', this.onWorkerMessage);
    worker.off('error', this.onWorkerError);
    worker.off('exit', this.onWorkerExit);
    // From here on, requests fail at once.
    this.failure ??= new ClosedError('the Kafka consumer');
    // Only a thread that took its consumer down cleanly runs the next one.
    if (!threadDied && refused === undefined) return this.threads.give(worker);
    await worker.terminate();
    // A thread that died has nothing left to disconnect; kafkajs refusing to is the caller's to know.
    if (!threadDied && refused !== undefined) throw refused.error;
  }

  on(event: string, listener: Listener): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }

  private request(message: WorkerRequest): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const worker = this.thread;
    if (worker === undefined) return Promise.reject(new NotConnectedError());
    const id = nextRequestId++;
    return new Promise<void>((resolve, reject) => {
      this.replies.set(id, { resolve, reject });
      worker.postMessage({ ...message, id } as ToWorker);
    });
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'reply': {
        const waiter = this.replies.get(message.id);
        this.replies.delete(message.id);
        if (message.error === undefined) waiter?.resolve();
        else waiter?.reject(errorFromMessage(message.error));
        break;
      }
      case 'event':
        if (message.name === 'group_join') this.dispatch(EVENTS.GROUP_JOIN, { payload: { memberAssignment: message.memberAssignment, memberId: message.memberId } });
        else if (message.name === 'rebalancing') this.dispatch(EVENTS.REBALANCING, { payload: {} });
        else this.dispatch(EVENTS.CRASH, { payload: { error: errorFromMessage(message.error), restart: message.restart } });
        break;
      case 'batch':
        this.onBatch(message);
        break;
      case 'batch-state': {
        // A report can cross the batch's end: only batches still being handled have a state to update.
        const state = this.batchStates.get(message.batchId);
        if (state !== undefined) Object.assign(state, { running: message.running, stale: message.stale });
        break;
      }
    }
  }

  private onBatch(packed: PackedBatch): void {
    const { batchId } = packed;
    const state = { running: true, stale: false };
    this.batchStates.set(batchId, state);
    const post = (message: ToWorker): void => {
      if (this.failure === undefined) this.thread?.postMessage(message);
    };
    let resolved: string | undefined;
    const payload: ClientBatchPayload = {
      batch: { topic: packed.topic, partition: packed.partition, highWatermark: packed.highWatermark, messages: [] },
      resolveOffset: (offset) => {
        resolved = offset;
        post({ type: 'resolve', batchId, offset });
      },
      heartbeat: () => this.request({ type: 'heartbeat', batchId }),
      isRunning: () => this.failure === undefined && state.running,
      isStale: () => state.stale,
      pause: () => {
        const pauseId = nextPauseId++;
        post({ type: 'pause', batchId, pauseId });
        return () => post({ type: 'resume', pauseId });
      },
    };
    this.handSlices(packed, payload, () => resolved).then(
      () => {
        this.batchStates.delete(batchId);
        post({ type: 'batch-done', batchId });
      },
      (error: unknown) => {
        this.batchStates.delete(batchId);
        post({ type: 'batch-done', batchId, error: errorToMessage(error) });
      },
    );
  }

  /**
   * Hands the batch over in slices of {@link SLICE} records, letting the event loop turn between them: a whole
   * fetched batch at once (5,000 records from a producer that batches large) would again be one long stretch of
   * work on this thread, in which every timer due waits. The next slice goes only once the previous one was
   * resolved to its last record.
   */
  private async handSlices(packed: PackedBatch, payload: ClientBatchPayload, lastResolved: () => string | undefined): Promise<void> {
    const eachBatch = this.eachBatch;
    if (eachBatch === undefined) return;
    const count = packed.offsets.length;
    const batch: ReadableBatch = { packed, bytes: Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength) };
    let at = 0;
    for (let start = 0; start < count; start += SLICE) {
      if (start > 0) {
        await yieldToEventLoop();
        if (!payload.isRunning() || payload.isStale()) return;
      }
      const end = Math.min(count, start + SLICE);
      const messages = new Array<ClientMessage>(end - start);
      at = unpack(batch, start, end, at, messages);
      await eachBatch({ ...payload, batch: { ...payload.batch, messages } });
      // A slice not taken on to its end (its partition paused, revoked or stopping) ends the batch: what is left
      // is fetched again, and handing over later records now would put them ahead of the ones left behind.
      if (lastResolved() !== packed.offsets[end - 1]) return;
    }
  }

  private dispatch(event: string, payload: ClientEvent): void {
    for (const listener of this.listeners.get(event) ?? []) listener(payload);
  }

  /** The thread is gone: pending requests fail, and unless it was asked to leave, listeners hear of a crash. */
  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const waiter of this.replies.values()) waiter.reject(error);
    this.replies.clear();
    if (!this.leaving) this.dispatch(EVENTS.CRASH, { payload: { error, restart: false } });
  }
}

/**
 * Records `start` to `end` of a packed batch into `into`, as {@link PackedMessage}s from byte `at` on; returns
 * the byte offset after them.
 */
function unpack(batch: ReadableBatch, start: number, end: number, at: number, into: ClientMessage[]): number {
  const { lengths } = batch.packed;
  for (let i = start; i < end; i++) {
    into[i - start] = new PackedMessage(batch, i, at);
    at += Math.max(lengths[2 * i]!, 0) + Math.max(lengths[2 * i + 1]!, 0);
  }
  return at;
}

/** A packed batch and its bytes as a Buffer, shared by the batch's messages. */
interface ReadableBatch {
  readonly packed: PackedBatch;
  readonly bytes: Buffer;
}

/**
 * One record of a packed batch, read where it lies: its key and value are views made when asked for. A record
 * waiting in the consumer's buffer then holds one small object instead of a message, two Buffer views and a
 * headers object; with thousands buffered, that is most of what the young-generation GC of the handlers' thread
 * has to copy, and its pauses hold up every handler's timers.
 */
class PackedMessage implements ClientMessage {
  constructor(
    private readonly batch: ReadableBatch,
    private readonly index: number,
    /** Byte offset of the record's key (its value follows). */
    private readonly at: number,
  ) {}

  get offset(): string {
    return this.batch.packed.offsets[this.index]!;
  }

  get timestamp(): string {
    return this.batch.packed.timestamps[this.index]!;
  }

  get key(): Buffer | null {
    const length = this.batch.packed.lengths[2 * this.index]!;
    return length < 0 ? null : this.batch.bytes.subarray(this.at, this.at + length);
  }

  get keyLatin1(): string | null {
    const length = this.batch.packed.lengths[2 * this.index]!;
    return length < 0 ? null : this.batch.bytes.toString('latin1', this.at, this.at + length);
  }

  get value(): Buffer | null {
    const { lengths } = this.batch.packed;
    const length = lengths[2 * this.index + 1]!;
    const from = this.at + Math.max(lengths[2 * this.index]!, 0);
    return length < 0 ? null : this.batch.bytes.subarray(from, from + length);
  }

  get headers(): RecordHeaders {
    const headers = this.batch.packed.headers?.[this.index];
    return headers === undefined ? {} : asBuffers(headers);
  }
}

/** Header values arrive as Uint8Arrays (a copy across threads loses the Buffer class): Buffers again. */
function asBuffers(headers: RecordHeaders): RecordHeaders {
  const toBuffer = (value: Buffer | string | Uint8Array): Buffer | string =>
    typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const result: RecordHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    result[name] = value === undefined ? undefined : Array.isArray(value) ? value.map(toBuffer) : toBuffer(value);
  }
  return result;
}
