/** Options of a ParallelConsumer, checked once at construction (typed errors, never a late crash). */
import { InvalidArgumentError, assertBoolean, assertFunction, assertKnownKeys, assertNumber, assertOneOf, assertString } from '@x/core';
import type { KafkaClient } from './client.js';
import type { BatchHandler, ConsumedRecord, HandlerContext, RecordHandler } from './record.js';

/** How records may run at once. */
export type Ordering = 'key' | 'partition' | 'unordered';

/** Options of {@link ParallelConsumer}. */
export interface ParallelConsumerOptions {
  /**
   * A kafkajs `Kafka` client (or any client with the same shape, see client.ts); the consumer creates its own
   * consumer, admin and (for dead letters) producer from it.
   */
  kafka: KafkaClient;
  groupId: string;
  topics: string[];
  /** Runs once per record (again on failure, up to `maxAttempts`). Exactly one of `handler` and `batchHandler`. */
  handler?: RecordHandler;
  /** Runs once per batch of up to `batchSize` records of distinct keys (see {@link BatchHandler}). */
  batchHandler?: BatchHandler;
  /** Most records per `batchHandler` call (2..10,000). Default 50. */
  batchSize?: number;
  /** `key` (default): in order per key, keys side by side. `partition`: one record per partition at a time. `unordered`: any. */
  ordering?: Ordering;
  /** Handler calls running at once across all partitions (a batch is one call). Default 256. */
  maxConcurrency?: number;
  /** Records taken from Kafka and not yet complete, across partitions; fetching waits above it. Default 10,000. */
  maxBuffered?: number;
  /**
   * Records of one partition taken and not yet complete; above it that partition is paused (until a tenth of
   * them completed) while the others go on, so a partition of slow records cannot fill the whole buffer.
   * Default: `maxBuffered` (no share of its own).
   */
  maxBufferedPerPartition?: number;
  /**
   * When a record may start, epoch ms by `Date.now()`: for delay and retry topics, whose records come due in
   * offset order within a partition. A record due more than `lookaheadMs` from now is not taken on: its
   * partition is paused until then (the records behind it wait too; other partitions go on), so what is held in
   * memory is what comes due soon, not everything fetched. A record is taken on up to `lookaheadMs` early: its
   * handler waits out the rest.
   */
  notBefore?: (record: ConsumedRecord) => number;
  /** How long before its `notBefore` a record is taken on, ms (covers the fetch after a resume). Default 2,000. */
  lookaheadMs?: number;
  /** Deliveries of a record before it is dead-lettered. Default 3. */
  maxAttempts?: number;
  /** Delay before retry n: min(maxRetryDelayMs, retryDelayMs * 2^(n-1)), full jitter. Defaults 100 ms and 10 s. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Topic that receives records whose attempts ran out (with the error in headers). Without it they are reported by the `dead` event and skipped. */
  deadLetterTopic?: string;
  /**
   * At a rebalance, how long the member waits for its running handlers before it rejoins, ms (0..2^31-1). No
   * record starts from the moment a rebalance is learnt of until the new assignment; what completes within this
   * wait is committed in the ending generation, so a partition's next owner does not run it again. The wait
   * happens when the member learns of the rebalance while taking on a batch; a member with nothing to fetch is
   * told by kafkajs's own heartbeat and rejoins at once (see the README). Handlers
   * still running after it finish as usual; of a partition that moves, they are run again by its next owner.
   * The group waits for its last member, so a long wait here delays every member's new assignment. It must end
   * before the group's rebalance timeout (kafkajs's `rebalanceTimeout`, 60 s) less a heartbeat interval, or the
   * member would be removed from the group meanwhile. Default 1,000 (or that limit when lower).
   */
  rebalanceDrainMs?: number;
  /**
   * How long the records of a partition this member has just been given wait before the first one starts, ms
   * (0..2^31-1, default 0). The partition's previous owner had its handlers' `signal` aborted at the moment
   * this member got it: a handler that needs up to this long to stop after its abort never runs beside this
   * member's run of the same record. Partitions the member keeps across a rebalance do not wait.
   */
  handoverGraceMs?: number;
  /** How often completed offsets are committed, ms. Default 500. */
  commitIntervalMs?: number;
  /**
   * The broker's `offset.metadata.max.bytes` (default 4096): the offset map is kept below it. Set above the
   * broker's, commits with larger maps are refused (`MetadataTooLargeError` on `error`).
   */
  metadataLimitBytes?: number;
  /** Start from the earliest offset when the group has none. Default false (latest). */
  fromBeginning?: boolean;
  /** kafkajs consumer options other than groupId (sessionTimeout, heartbeatInterval, ...). */
  consumerConfig?: Record<string, unknown>;
}

export interface CheckedOptions extends Required<Omit<ParallelConsumerOptions, 'deadLetterTopic' | 'consumerConfig' | 'handler' | 'batchHandler' | 'notBefore'>> {
  notBefore: ((record: ConsumedRecord) => number) | undefined;
  /**
   * Runs a unit of several records. Only the batch handler forms such units; with `handler` every unit is one
   * record and goes through `invokeOne`.
   */
  invoke: (records: ConsumedRecord[], context: HandlerContext) => Promise<void> | void;
  /** Runs one record: the handler itself, or the batch handler given a one-record batch. */
  invokeOne: RecordHandler;
  /** Records per handler call: 1 for `handler`, `batchSize` for `batchHandler`. */
  unitSize: number;
  deadLetterTopic: string | undefined;
  consumerConfig: Record<string, unknown>;
}

const KEYS = [
  'kafka', 'groupId', 'topics', 'handler', 'batchHandler', 'batchSize', 'ordering', 'maxConcurrency', 'maxBuffered', 'maxBufferedPerPartition', 'notBefore', 'lookaheadMs', 'maxAttempts', 'retryDelayMs',
  'maxRetryDelayMs', 'deadLetterTopic', 'rebalanceDrainMs', 'handoverGraceMs', 'commitIntervalMs', 'metadataLimitBytes', 'fromBeginning', 'consumerConfig',
];
/** What Kafka accepts as a topic name (its own rule: legal characters, at most 249, not '.' or '..'). */
function isTopicName(name: unknown): name is string {
  return typeof name === 'string' && /^[a-zA-Z0-9._-]{1,249}$/.test(name) && name !== '.' && name !== '..';
}

/** The longest a Node timer can wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks kafkajs consumer options as ParallelConsumer's `consumerConfig` takes them (for a library that passes
 * its users' options on to one): a plain object without `groupId` (the group is given apart), whose timings
 * (`sessionTimeout`, `rebalanceTimeout`, `heartbeatInterval`, `maxWaitTimeInMs`) are whole ms a timer can wait,
 * and whose `partitionAssigners`, if given, is a non-empty array of functions.
 * Returns it (`{}` for undefined); throws `ERR_INVALID_ARGUMENT` naming `options.consumerConfig...` otherwise.
 * `groupFrom` says, in a refused `groupId`'s message, where the caller's groups come from instead.
 */
export function assertConsumerConfig(config: unknown, groupFrom = 'options.groupId'): Record<string, unknown> {
  if (config === undefined) return {};
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidArgumentError('options.consumerConfig', config, 'an object of kafkajs consumer options');
  }
  if ('groupId' in config) throw new InvalidArgumentError('options.consumerConfig.groupId', (config as { groupId: unknown }).groupId, `absent (the group is ${groupFrom})`);
  // kafkajs takes these as they come: a negative session timeout joined nothing and reported untyped errors.
  const record = config as Record<string, unknown>;
  for (const [key, min] of KAFKAJS_TIMINGS) {
    if (record[key] !== undefined) assertNumber(`options.consumerConfig.${key}`, record[key], { min, max: MAX_TIMER_MS, integer: true });
  }
  // kafkajs calls `.map` on it when the consumer starts: anything else failed there with an untyped TypeError.
  const assigners = record.partitionAssigners;
  if (assigners !== undefined && (!Array.isArray(assigners) || assigners.length === 0 || !assigners.every((assigner) => typeof assigner === 'function'))) {
    throw new InvalidArgumentError('options.consumerConfig.partitionAssigners', assigners, 'a non-empty array of kafkajs partition assigners (functions)');
  }
  return record;
}

/** kafkajs consumer timings (ms) and their least sensible value. */
const KAFKAJS_TIMINGS: [string, number][] = [['sessionTimeout', 1], ['rebalanceTimeout', 1], ['heartbeatInterval', 1], ['maxWaitTimeInMs', 0]];

/** kafkajs's own rebalance timeout and heartbeat interval, ms. */
const DEFAULT_REBALANCE_TIMEOUT_MS = 60_000;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000;

function positiveOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && value > 0 ? value : fallback;
}

/**
 * The longest `rebalanceDrainMs` a group with these kafkajs consumer options allows: the member learns of a
 * rebalance up to a heartbeat interval after it began, and must rejoin within the rebalance timeout, or it is
 * removed from the group while its handlers still run. With kafkajs's defaults (60 s, 3 s) 56,999 ms.
 */
function maxRebalanceDrainMs(consumerConfig: Record<string, unknown> = {}): number {
  const rebalanceTimeout = positiveOr(consumerConfig.rebalanceTimeout, DEFAULT_REBALANCE_TIMEOUT_MS);
  const heartbeatInterval = positiveOr(consumerConfig.heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL_MS);
  return Math.max(0, Math.ceil(rebalanceTimeout - heartbeatInterval) - 1);
}

/** Smallest metadata limit that can hold the map's header and a useful payload. */
export const MIN_METADATA_LIMIT = 64;

export function checkOptions(options: ParallelConsumerOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
  assertKnownKeys('options', options, KEYS);
  const kafka = options.kafka as { consumer?: unknown; admin?: unknown; producer?: unknown } | undefined;
  if (typeof kafka?.consumer !== 'function' || typeof kafka.admin !== 'function' || typeof kafka.producer !== 'function') {
    throw new InvalidArgumentError('options.kafka', options.kafka, 'a kafkajs Kafka client');
  }
  assertString('options.groupId', options.groupId, 255);
  if (options.groupId.length === 0) throw new InvalidArgumentError('options.groupId', options.groupId, 'a non-empty string');
  if (!Array.isArray(options.topics) || options.topics.length === 0 || !options.topics.every(isTopicName)) {
    throw new InvalidArgumentError('options.topics', options.topics, 'a non-empty array of Kafka topic names (1-249 of a-z A-Z 0-9 . _ -)');
  }
  if (new Set(options.topics).size !== options.topics.length) throw new InvalidArgumentError('options.topics', options.topics, 'topic names each given once');
  if ((options.handler === undefined) === (options.batchHandler === undefined)) {
    throw new InvalidArgumentError('options.handler', options.handler, 'exactly one of handler and batchHandler');
  }
  let invoke: CheckedOptions['invoke'];
  let invokeOne: RecordHandler;
  let unitSize = 1;
  if (options.handler !== undefined) {
    const handler = assertFunction<RecordHandler>('options.handler', options.handler);
    if (options.batchSize !== undefined) throw new InvalidArgumentError('options.batchSize', options.batchSize, 'absent unless batchHandler is given');
    invokeOne = handler;
    invoke = (records, context) => handler(records[0]!, context);
  } else {
    const batchHandler = assertFunction<BatchHandler>('options.batchHandler', options.batchHandler);
    invoke = batchHandler;
    invokeOne = (record, context) => batchHandler([record], context);
    unitSize = assertNumber('options.batchSize', options.batchSize ?? 50, { min: 2, max: 10_000, integer: true });
  }
  const maxConcurrency = assertNumber('options.maxConcurrency', options.maxConcurrency ?? 256, { min: 1, max: 1_000_000, integer: true });
  const maxBuffered = assertNumber('options.maxBuffered', options.maxBuffered ?? Math.max(10_000, maxConcurrency), {
    min: maxConcurrency,
    max: 10_000_000,
    integer: true,
  });
  // Delays wait on timers, which fire at once past 2^31-1 ms (Node clamps them to 1 ms).
  const retryDelayMs = assertNumber('options.retryDelayMs', options.retryDelayMs ?? 100, { min: 0, max: MAX_TIMER_MS });
  const consumerConfig = assertConsumerConfig(options.consumerConfig);
  const drainLimit = maxRebalanceDrainMs(consumerConfig);
  const rebalanceDrainMs = assertNumber('options.rebalanceDrainMs', options.rebalanceDrainMs ?? Math.min(1_000, drainLimit), { min: 0, max: MAX_TIMER_MS });
  if (rebalanceDrainMs > drainLimit) {
    throw new InvalidArgumentError('options.rebalanceDrainMs', rebalanceDrainMs, `at most ${drainLimit} ms with these consumerConfig timeouts (raise rebalanceTimeout for more)`);
  }
  const deadLetterTopic = options.deadLetterTopic;
  if (deadLetterTopic !== undefined) {
    if (!isTopicName(deadLetterTopic)) throw new InvalidArgumentError('options.deadLetterTopic', deadLetterTopic, 'a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)');
    if (options.topics.includes(deadLetterTopic)) {
      throw new InvalidArgumentError('options.deadLetterTopic', deadLetterTopic, 'a topic this consumer does not consume');
    }
  }
  return {
    kafka: options.kafka,
    groupId: options.groupId,
    topics: [...options.topics],
    invoke,
    invokeOne,
    unitSize,
    batchSize: unitSize,
    ordering: assertOneOf('options.ordering', options.ordering ?? 'key', ['key', 'partition', 'unordered']),
    maxConcurrency,
    maxBuffered,
    notBefore: options.notBefore === undefined ? undefined : assertFunction<(record: ConsumedRecord) => number>('options.notBefore', options.notBefore),
    lookaheadMs: assertNumber('options.lookaheadMs', options.lookaheadMs ?? 2_000, { min: 0, max: MAX_TIMER_MS }),
    maxBufferedPerPartition: assertNumber('options.maxBufferedPerPartition', options.maxBufferedPerPartition ?? maxBuffered, { min: 1, max: maxBuffered, integer: true }),
    maxAttempts: assertNumber('options.maxAttempts', options.maxAttempts ?? 3, { min: 1, max: 1_000_000, integer: true }),
    retryDelayMs,
    maxRetryDelayMs: assertNumber('options.maxRetryDelayMs', options.maxRetryDelayMs ?? Math.max(10_000, retryDelayMs), { min: retryDelayMs, max: MAX_TIMER_MS }),
    deadLetterTopic,
    rebalanceDrainMs,
    handoverGraceMs: assertNumber('options.handoverGraceMs', options.handoverGraceMs ?? 0, { min: 0, max: MAX_TIMER_MS }),
    commitIntervalMs: assertNumber('options.commitIntervalMs', options.commitIntervalMs ?? 500, { min: 10, max: 3_600_000 }),
    metadataLimitBytes: assertNumber('options.metadataLimitBytes', options.metadataLimitBytes ?? 4096, { min: MIN_METADATA_LIMIT, integer: true }),
    fromBeginning: options.fromBeginning === undefined ? false : assertBoolean('options.fromBeginning', options.fromBeginning),
    consumerConfig,
  };
}
