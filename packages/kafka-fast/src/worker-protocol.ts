/**
 * Messages between a {@link WorkerThreadConsumer} and its worker thread (worker-consumer-thread.ts), which runs
 * the kafkajs consumer: fetching and decoding happen there, off the event loop that runs the handlers.
 */
import type { RecordHeaders } from './client.js';
import { causeWithType } from './rebalance-error.js';

/** A fetched batch, packed so that crossing threads costs one transferred buffer and a few arrays. */
export interface PackedBatch {
  type: 'batch';
  batchId: number;
  topic: string;
  partition: number;
  highWatermark: string;
  offsets: string[];
  timestamps: string[];
  /** Key length then value length per record; -1 for null. */
  lengths: Int32Array;
  /** Every record's key then value, one after another. */
  bytes: Uint8Array;
  /** Each record's headers, or null when no record of the batch has any. */
  headers: (RecordHeaders | undefined)[] | null;
}

/** Worker thread → consumer. */
export type FromWorker =
  | { type: 'reply'; id: number; error?: ErrorMessage }
  | { type: 'event'; name: 'group_join'; memberAssignment: Record<string, number[]>; memberId: string | undefined }
  | { type: 'event'; name: 'rebalancing' }
  | { type: 'event'; name: 'crash'; error: ErrorMessage; restart: boolean }
  | PackedBatch
  | { type: 'batch-state'; batchId: number; running: boolean; stale: boolean };

/** Consumer → worker thread. Those with an `id` are answered with a `reply`. */
export type ToWorker =
  | { type: 'connect'; id: number; consumerConfig: Record<string, unknown> }
  | { type: 'subscribe'; id: number; subscription: { topic: string; fromBeginning?: boolean } }
  | { type: 'run'; id: number; config: { autoCommit: boolean; eachBatchAutoResolve: boolean; partitionsConsumedConcurrently: number } }
  | { type: 'commit'; id: number; offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[] }
  | { type: 'disconnect'; id: number }
  | { type: 'heartbeat'; id: number; batchId: number }
  | { type: 'batch-done'; batchId: number; error?: ErrorMessage }
  | { type: 'resolve'; batchId: number; offset: string }
  | { type: 'pause'; batchId: number; pauseId: number }
  | { type: 'resume'; pauseId: number };

/** What crosses threads of an error (an Error object would arrive as a plain one without its class anyway). */
export function errorToMessage(error: unknown, depth = 0): ErrorMessage {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const message: ErrorMessage = { name: error.name, message: error.message };
  // kafkajs wraps a protocol error whose retries ran out: the type of the first error in the chain that has one.
  const type = causeWithType(error, () => true)?.type;
  if (type !== undefined) message.type = type;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string') message.code = code;
  // The chain says what happened on the wire (a refused connection under kafkajs's retries, say).
  if (error.cause !== undefined && depth < 4) message.cause = errorToMessage(error.cause, depth + 1);
  return message;
}

/**
 * The Error on the receiving side of {@link errorToMessage}: its name, message, `code`, kafkajs `type` and
 * causes, which is how both sides tell a rebalance (REBALANCE_IN_PROGRESS, ...) or an unreachable broker from
 * other failures.
 */
export function errorFromMessage(error: ErrorMessage): Error {
  const made = Object.assign(new Error(error.message, error.cause === undefined ? undefined : { cause: errorFromMessage(error.cause) }), { name: error.name });
  if (error.type !== undefined) Object.assign(made, { type: error.type });
  if (error.code !== undefined) Object.assign(made, { code: error.code });
  return made;
}

/** An error as it crosses between the threads. */
export interface ErrorMessage {
  name: string;
  message: string;
  /** kafkajs's protocol error type, when it has one. */
  type?: string;
  /** Node's or the client's error code (`ECONNREFUSED`, ...), when it has one. */
  code?: string;
  cause?: ErrorMessage;
}

/** The data a worker thread starts from; each consumer it runs brings its own config with `connect`. */
export interface WorkerClientData {
  kafkaConfig: Record<string, unknown>;
  /** How often the worker reports a running batch's isRunning()/isStale(), in ms. */
  statePollMs: number;
}
