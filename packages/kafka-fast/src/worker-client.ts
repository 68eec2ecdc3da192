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
import { InvalidArgumentError } from '@x/core';
import type { KafkaConfig, Kafka as KafkaJs } from 'kafkajs';
import type { ClientAdmin, ClientBatchPayload, ClientConsumer, ClientEvent, ClientMessage, ClientProducer, KafkaClient, RecordHeaders } from './client.js';
import { type FromWorker, type PackedBatch, type ToWorker, type WorkerClientData, errorFromMessage, errorToMessage } from './worker-protocol.js';

/** The compiled worker entry (tests run the sources, so the path is the package's dist either way). */
const WORKER_ENTRY = resolvePath(__dirname, '..', 'dist', 'worker-consumer-thread.js');
/** Records handed to `eachBatch` at a time (see WorkerThreadConsumer.handSlices). */
const SLICE = 500;
const EVENTS = { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' } as const;

type Listener = Parameters<ClientConsumer['on']>[1];
type WorkerRequest = ToWorker extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

/**
 * Makes a {@link KafkaClient} for `ParallelConsumer` whose consumer runs kafkajs on a worker thread.
 * `kafkaConfig` is kafkajs's `new Kafka(config)` argument; it is copied to the thread, so it must be plain data
 * (no `logCreator`, `socketFactory` or OAuth provider functions).
 *
 * @example
 * ```ts
 * const consumer = new ParallelConsumer({
 *   kafka: workerThreadClient({ clientId: 'orders', brokers: ['127.0.0.1:9092'] }),
 *   groupId: 'orders', topics: ['orders'], handler: async (record) => handle(record),
 * });
 * ```
 */
export function workerThreadClient(kafkaConfig: Record<string, unknown>, options: { statePollMs?: number } = {}): KafkaClient {
  try {
    structuredClone(kafkaConfig);
  } catch (error) {
    throw new InvalidArgumentError('kafkaConfig', kafkaConfig, `plain data that can be copied to a worker thread (${(error as Error).message})`);
  }
  const statePollMs = options.statePollMs ?? 50;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka } = require('kafkajs') as { Kafka: typeof KafkaJs };
  const local = new Kafka(kafkaConfig as unknown as KafkaConfig);
  return {
    consumer: (consumerConfig) => new WorkerThreadConsumer({ kafkaConfig, consumerConfig, statePollMs }),
    admin: () => local.admin() as unknown as ClientAdmin,
    producer: (config) => local.producer(config) as unknown as ClientProducer,
  };
}

/** The consumer side of the thread pair: a {@link ClientConsumer} that forwards to the worker thread. */
export class WorkerThreadConsumer implements ClientConsumer {
  readonly events = EVENTS;
  /** @internal The thread; tests end it to show what a consumer does when its thread dies. */
  readonly worker: Worker;
  /** Requests (and batch heartbeats) waiting for the worker's reply, by id. */
  private readonly replies = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<string, Listener[]>();
  /** isRunning()/isStale() of the batches being handled, as the worker last reported them. */
  private readonly batchStates = new Map<number, { running: boolean; stale: boolean }>();
  private eachBatch: ((payload: ClientBatchPayload) => Promise<void>) | undefined;
  private nextId = 1;
  private failure: Error | undefined;
  /** Set once disconnect() was asked for: the thread's end is then expected, not a crash. */
  private leaving = false;

  constructor(data: WorkerClientData) {
    this.worker = new Worker(WORKER_ENTRY, { workerData: data });
    this.worker.on('message', (message: FromWorker) => this.onMessage(message));
    // An uncaught error ends the thread ('exit' follows): the first of the two says why.
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the Kafka consumer's worker thread exited with code ${code}`)));
  }

  connect(): Promise<void> {
    return this.request({ type: 'connect' });
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
    this.leaving = true;
    if (this.failure === undefined) await this.request({ type: 'disconnect' });
    await this.worker.terminate();
  }

  on(event: string, listener: Listener): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }

  private request(message: WorkerRequest): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.replies.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id } as ToWorker);
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
        if (message.name === 'group_join') this.dispatch(EVENTS.GROUP_JOIN, { payload: { memberAssignment: message.memberAssignment } });
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
      if (this.failure === undefined) this.worker.postMessage(message);
    };
    let pauses = 0;
    let resolved: string | undefined;
    const payload: ClientBatchPayload = {
      batch: { topic: packed.topic, partition: packed.partition, highWatermark: packed.highWatermark, messages: [] },
      resolveOffset: (offset) => {
        resolved = offset;
        post({ type: 'resolve', batchId, offset });
      },
      heartbeat: () => {
        if (this.failure !== undefined) return Promise.reject(this.failure);
        const id = this.nextId++;
        return new Promise<void>((resolve, reject) => {
          this.replies.set(id, { resolve, reject });
          this.worker.postMessage({ type: 'heartbeat', id, batchId } satisfies ToWorker);
        });
      },
      isRunning: () => this.failure === undefined && state.running,
      isStale: () => state.stale,
      pause: () => {
        const pauseId = batchId * 1_000 + pauses++;
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
    const bytes = Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength);
    let at = 0;
    for (let start = 0; start < count; start += SLICE) {
      if (start > 0) {
        await yieldToEventLoop();
        if (!payload.isRunning() || payload.isStale()) return;
      }
      const end = Math.min(count, start + SLICE);
      const messages = new Array<ClientMessage>(end - start);
      at = unpack(packed, bytes, start, end, at, messages);
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
 * Records `start` to `end` of a packed batch into `into`, their keys and values views of the one transferred
 * buffer from byte `at` on; returns the byte offset after them.
 */
function unpack(packed: PackedBatch, bytes: Buffer, start: number, end: number, at: number, into: ClientMessage[]): number {
  const { offsets, timestamps, lengths, headers } = packed;
  for (let i = start; i < end; i++) {
    const keyLength = lengths[2 * i]!;
    const valueLength = lengths[2 * i + 1]!;
    const key = keyLength < 0 ? null : bytes.subarray(at, (at += keyLength));
    const value = valueLength < 0 ? null : bytes.subarray(at, (at += valueLength));
    const recordHeaders = headers?.[i];
    into[i - start] = { offset: offsets[i]!, key, value, headers: recordHeaders === undefined ? {} : asBuffers(recordHeaders), timestamp: timestamps[i]! };
  }
  return at;
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
