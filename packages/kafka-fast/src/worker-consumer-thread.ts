/**
 * The worker thread of a {@link WorkerThreadConsumer}: a kafkajs consumer whose batches are packed and posted to
 * the consumer's thread, where `eachBatch` runs; this thread waits for it to finish each batch, and carries out
 * what it asks of the batch meanwhile (resolveOffset, heartbeat, pause). kafkajs decodes a whole fetched record
 * batch in one go; here that work no longer holds up the handlers' timers.
 *
 * A thread runs one consumer at a time, from `connect` to `disconnect`, and then may run the next consumer of
 * the same client: its compiled code (kafkajs's decoding above all) is warm by then.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka as KafkaJs, KafkaConfig, KafkaMessage } from 'kafkajs';
import { type FromWorker, type PackedBatch, type ToWorker, type WorkerClientData, errorFromMessage, errorToMessage } from './worker-protocol.js';

interface LiveBatch {
  payload: EachBatchPayload;
  finish: (error?: unknown) => void;
  /**
   * The last failure of a heartbeat asked for this batch. When the consumer's side ends the batch with it (a
   * rebalance), kafkajs gets its own error back, as it would from a heartbeat in its own thread.
   */
  heartbeatError?: unknown;
  running: boolean;
  stale: boolean;
}

const data = workerData as WorkerClientData;
const port = parentPort!;
// Required here, not imported: kafkajs is an optional peer of the package, needed only where this thread runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Kafka } = require('kafkajs') as { Kafka: typeof KafkaJs };
const kafka = new Kafka(data.kafkaConfig as unknown as KafkaConfig);
/** The consumer this thread runs now, from `connect` to `disconnect`. */
let consumer: Consumer | undefined;
let statePoll: NodeJS.Timeout | undefined;
// Batch ids go on rising across the consumers a thread runs, so a late message can never name a new batch.
const batches = new Map<number, LiveBatch>();
const resumes = new Map<number, () => void>();
let nextBatchId = 1;

function post(message: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

function current(): Consumer {
  if (consumer === undefined) throw new Error('the worker thread runs no consumer: connect first');
  return consumer;
}

async function connect(consumerConfig: Record<string, unknown>): Promise<void> {
  if (consumer !== undefined) throw new Error('the worker thread already runs a consumer');
  const made = kafka.consumer(consumerConfig as unknown as ConsumerConfig);
  consumer = made;
  made.on(made.events.GROUP_JOIN, (event) => post({ type: 'event', name: 'group_join', memberAssignment: event.payload.memberAssignment, memberId: event.payload.memberId }));
  made.on(made.events.REBALANCING, () => post({ type: 'event', name: 'rebalancing' }));
  made.on(made.events.CRASH, (event) => post({ type: 'event', name: 'crash', error: errorToMessage(event.payload.error), restart: event.payload.restart }));
  // isRunning() and isStale() are synchronous calls on the consumer's side: it keeps copies, which this refreshes.
  statePoll = setInterval(() => {
    for (const [batchId, batch] of batches) {
      const running = batch.payload.isRunning();
      const stale = batch.payload.isStale();
      if (running === batch.running && stale === batch.stale) continue;
      batch.running = running;
      batch.stale = stale;
      post({ type: 'batch-state', batchId, running, stale });
    }
  }, data.statePollMs);
  await made.connect();
}

/** Ends the consumer and leaves the thread ready for the next one. */
async function disconnect(): Promise<void> {
  clearInterval(statePoll);
  for (const batch of batches.values()) batch.finish();
  resumes.clear();
  const leaving = consumer;
  consumer = undefined;
  await leaving?.disconnect();
}

function pack(batchId: number, payload: EachBatchPayload): { message: PackedBatch; transfer: ArrayBuffer[] } {
  const messages: KafkaMessage[] = payload.batch.messages;
  const count = messages.length;
  const lengths = new Int32Array(count * 2);
  const offsets = new Array<string>(count);
  const timestamps = new Array<string>(count);
  let total = 0;
  let anyHeaders = false;
  for (let i = 0; i < count; i++) {
    const message = messages[i]!;
    offsets[i] = message.offset;
    timestamps[i] = message.timestamp;
    lengths[2 * i] = message.key === null ? -1 : message.key.length;
    lengths[2 * i + 1] = message.value === null ? -1 : message.value.length;
    total += (message.key?.length ?? 0) + (message.value?.length ?? 0);
    if (message.headers !== undefined && Object.keys(message.headers).length > 0) anyHeaders = true;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const message of messages) {
    if (message.key !== null) {
      bytes.set(message.key, at);
      at += message.key.length;
    }
    if (message.value !== null) {
      bytes.set(message.value, at);
      at += message.value.length;
    }
  }
  const { topic, partition, highWatermark } = payload.batch;
  return {
    message: {
      type: 'batch',
      batchId,
      topic,
      partition,
      highWatermark,
      offsets,
      timestamps,
      lengths,
      bytes,
      headers: anyHeaders ? messages.map((message) => message.headers) : null,
    },
    transfer: [lengths.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer],
  };
}

function eachBatch(payload: EachBatchPayload): Promise<void> {
  const batchId = nextBatchId++;
  return new Promise<void>((resolve, reject) => {
    batches.set(batchId, {
      payload,
      finish: (error) => {
        batches.delete(batchId);
        if (error === undefined) resolve();
        else reject(error);
      },
      running: true,
      stale: false,
    });
    const { message, transfer } = pack(batchId, payload);
    post(message, transfer);
  });
}

async function answer(id: number, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
    post({ type: 'reply', id });
  } catch (error) {
    post({ type: 'reply', id, error: errorToMessage(error) });
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'connect':
      void answer(message.id, () => connect(message.consumerConfig));
      break;
    case 'subscribe':
      void answer(message.id, async () => current().subscribe(message.subscription));
      break;
    case 'run':
      void answer(message.id, async () => current().run({ ...message.config, eachBatch }));
      break;
    case 'commit':
      void answer(message.id, async () => current().commitOffsets(message.offsets));
      break;
    case 'disconnect':
      void answer(message.id, disconnect);
      break;
    case 'heartbeat': {
      const batch = batches.get(message.batchId);
      // A batch already finished has nothing to keep alive; kafkajs heartbeats between batches by itself.
      void answer(message.id, async () => {
        try {
          await batch?.payload.heartbeat();
        } catch (error) {
          if (batch !== undefined) batch.heartbeatError = error;
          throw error;
        }
      });
      break;
    }
    case 'batch-done': {
      const batch = batches.get(message.batchId);
      const { error } = message;
      const own = batch?.heartbeatError as { type?: unknown; message?: unknown } | undefined;
      if (error === undefined) batch?.finish();
      else batch?.finish(own !== undefined && own.type === error.type && own.message === error.message ? own : errorFromMessage(error));
      break;
    }
    case 'resolve':
      batches.get(message.batchId)?.payload.resolveOffset(message.offset);
      break;
    case 'pause': {
      const resume = batches.get(message.batchId)?.payload.pause();
      if (resume !== undefined) resumes.set(message.pauseId, resume);
      break;
    }
    case 'resume':
      resumes.get(message.pauseId)?.();
      resumes.delete(message.pauseId);
      break;
  }
});
