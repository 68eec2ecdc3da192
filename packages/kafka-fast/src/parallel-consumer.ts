/**
 * A kafkajs consumer that runs many records of one partition at once. kafkajs fetches; `eachBatch` only hands
 * records to the scheduler and returns, so fetching goes on while slow records run (no batch barrier). Commits
 * carry the highest safe offset plus a map of completed offsets above it, so a restart or a new owner skips
 * work already done.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { CloseTimeoutError, ClosedError, describeThrown, fullJitterBackoff } from '@x/core';
import type { ClientAdmin, ClientBatchPayload, ClientConsumer, ClientMessage, ClientProducer } from './client.js';
import { AlreadyStartedError, CallbackError, ConsumerCrashedError, MetadataTooLargeError, PartitionRevokedError } from './errors.js';
import { type CheckedOptions, type ParallelConsumerOptions, checkOptions } from './options.js';
import { causeWithType, isRebalanceError, rebalanceCause } from './rebalance-error.js';
import { connectFailure, subscribeFailure } from './start-error.js';
import { partitionKey } from './partition-key.js';
import { PartitionTracker } from './partition-tracker.js';
import type { ConsumedRecord } from './record.js';
import { DONE, type Outcome, Scheduler } from './scheduler.js';
import { type ConsumerCount, ConsumerTelemetry, type PartitionLag } from './telemetry.js';
import type { WorkSpan } from '@x/core';

interface CommitEntry {
  key: string;
  tracker: PartitionTracker;
  offset: number;
  metadata: string;
}

interface RecordTask {
  solo: boolean;
  readonly tracker: PartitionTracker;
  readonly message: ClientMessage;
  /** Built when the handler first needs it (a waiting record holds one object less). */
  record: ConsumedRecord | undefined;
  readonly offset: number;
  attempt: number;
  /** When its run began, for the duration histogram's sample; 0 when not timed. */
  startedAt: number;
  /** Its run's span, while it runs and spans are made. */
  span: WorkSpan | undefined;
}

function recordOf(task: RecordTask): ConsumedRecord {
  return (task.record ??= toRecord(task.tracker.topic, task.tracker.partition, task.message));
}

/** A snapshot of one assigned partition. */
export interface PartitionMetrics {
  topic: string;
  partition: number;
  /** The offset the last commit sent (-1 before the first). */
  committedOffset: string;
  /** Records taken on and not complete. */
  incomplete: number;
  /** Completed records above the commit point (carried in the metadata). */
  completedAbove: number;
  /** High watermark minus the commit point: includes incomplete records. */
  lag: number;
  /** Length of the last commit's metadata. */
  metadataBytes: number;
  /** Paused: it holds its `maxBufferedPerPartition` records, or its next record is not due yet (`notBefore`). */
  heldBack: boolean;
}

/** Counters and per-partition state, from `metrics()`. */
export interface ConsumerMetrics {
  /** Handlers running now. */
  inFlight: number;
  /** Records taken on and not yet complete, running ones included (`buffered - inFlight` wait to start). */
  buffered: number;
  /** Records taken on from fetches. */
  received: number;
  completed: number;
  /** Handler runs that threw (given-back records aside). */
  failed: number;
  retried: number;
  deadLettered: number;
  commits: number;
  partitions: PartitionMetrics[];
}

/** Events of a {@link ParallelConsumer}. */
export interface ParallelConsumerEvents {
  /** An offset commit went through. */
  committed: [{ topic: string; partition: number; offset: string; metadataBytes: number }];
  /** A batch handler threw: its records will run again one by one. */
  'batch-split': [{ records: number; error: unknown }];
  /** A failed record will run again after `delayMs`. */
  retry: [{ record: ConsumedRecord; attempt: number; delayMs: number; error: unknown }];
  /** A record ran out of attempts; it went to the dead-letter topic when one is configured. */
  dead: [{ record: ConsumedRecord; attempts: number; error: unknown }];
  /**
   * A partition stopped taking on records: the next one lies so far above its lowest incomplete record that the
   * commit's offset map could outgrow `metadataLimitBytes`; `waitingOffset` is that next record. It goes on once
   * the lowest incomplete record completes. (Should a map ever not fit all the same, its highest completed
   * offsets are left out, to be repeated after a restart, and this event comes without `waitingOffset`.)
   */
  'metadata-pressure': [{ topic: string; partition: number; limit: number; waitingOffset?: string }];
  /**
   * A rebalance began (or this process stood still past its session timeout). With kafkajs (`partitions`
   * absent) the whole group stops: no record starts until the new assignment (`assigned`), and running handlers
   * have up to `rebalanceDrainMs` before the member rejoins when it learnt of the rebalance while taking on a
   * batch (told by the client's own heartbeat, it rejoins at once). With a client on Kafka 4's consumer protocol
   * (`@x/kafka-fast/platformatic`) only `partitions` are taken away: their records not started are dropped for
   * the next owner, running ones have up to `rebalanceDrainMs` before the group is told the partitions are free,
   * and every other partition goes on. A handler whose record is affected and has not begun its work can give
   * it back now by throwing: a throw during this wait costs no attempt and no backoff, and the record runs again
   * with the same attempt number, here once the new assignment keeps its partition, or on the partition's next
   * owner. Holding a record in a handler past this wait only delays the rebalance.
   */
  rebalancing: [{ partitions?: { topic: string; partition: number }[] }];
  /** Partitions this consumer owns after a rebalance. */
  assigned: [{ partitions: { topic: string; partition: number }[] }];
  /**
   * Background failures (commit, dead-letter produce); the consumer keeps going. Except a
   * {@link ConsumerCrashedError}: the client's consumer stopped for good, and this consumer closes itself.
   */
  error: [unknown];
}

/**
 * Consumes topics with many records of one partition in flight, keeping order per key (or per partition) and
 * committing only offsets whose records, and all before them, are complete.
 *
 * @example
 * ```ts
 * import { Kafka } from 'kafkajs';
 * import { ParallelConsumer } from '@x/kafka-fast';
 *
 * const consumer = new ParallelConsumer({
 *   kafka: new Kafka({ brokers: ['127.0.0.1:9092'] }),
 *   groupId: 'billing',
 *   topics: ['orders'],
 *   maxConcurrency: 500,
 *   deadLetterTopic: 'orders.dead',
 *   handler: async (record, { signal }) => charge(JSON.parse(record.value!.toString()), { signal }),
 * });
 * await consumer.start();
 * // ...
 * await consumer.close();
 * ```
 */
export class ParallelConsumer extends EventEmitter<ParallelConsumerEvents> implements AsyncDisposable {
  private readonly options: CheckedOptions;
  private readonly consumer: ClientConsumer;
  private readonly admin: ClientAdmin;
  /** The dead-letter producer once asked for: connected, or connecting (a failed connect is forgotten). */
  private producer: Promise<ClientProducer> | undefined;
  private readonly scheduler: Scheduler<RecordTask>;
  private readonly telemetry: ConsumerTelemetry;
  private readonly trackers = new Map<string, PartitionTracker>();
  private readonly loading = new Map<string, Promise<Map<number, { offset: string; metadata: string | null }>>>();
  private readonly highWatermarks = new Map<string, number>();
  private readonly committedOffsets = new Map<string, { offset: string; metadataBytes: number }>();
  private capacityWaiters: (() => void)[] = [];
  /** Partitions paused until the buffer has room (a client that learns of rebalances by fetching). */
  private readonly pausedForRoom = new Set<PartitionTracker>();
  private buffered = 0;
  private received = 0;
  private completed = 0;
  private failed = 0;
  private retried = 0;
  private deadLettered = 0;
  private commits = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private state: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | undefined;
  /** What start() is doing (connecting, joining), for close() to wait for. */
  private starting: Promise<void> | undefined;
  /** The client's consumer stopped for good: nothing can be committed through it any more. */
  private crashed = false;
  /** What the client crashed with before its `run()` answered: `start()` rejects with it. */
  private crashWhileStarting: unknown;
  /** This member's id in the group, from the last assignment. */
  private memberId: string | undefined;
  /** Watches for this process having stood still past the session timeout (see checkStall). */
  private stallTimer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  /** Held since a stop past the session timeout, until the next assignment or a heartbeat the group took. */
  private stalled = false;
  /** No record starts: a rebalance is under way (see holdForRebalance), until the next assignment. */
  private holding = false;
  /** A rebalance heard of, until the next assignment: settles (rejecting) once this member may rejoin. */
  private rejoin: Promise<never> | undefined;
  /** Wall-clock ms of the last assignment: a partition it gave this member waits `handoverGraceMs` from then. */
  private assignedAt = 0;
  /** The client's session timeout: kafkajs's default unless consumerConfig sets one. */
  private readonly sessionTimeoutMs: number;
  private readonly retryPolicy;
  /** Buffered count at or below which a fetcher waiting for capacity resumes. */
  private readonly resumeAt: number;

  constructor(options: ParallelConsumerOptions) {
    super();
    this.options = checkOptions(options);
    const { kafka, groupId, consumerConfig } = this.options;
    this.consumer = kafka.consumer({ maxWaitTimeInMs: DEFAULT_MAX_WAIT_MS, ...consumerConfig, groupId });
    this.admin = kafka.admin();
    this.resumeAt = this.options.maxBuffered - Math.max(1, Math.floor(this.options.maxBuffered / 10));
    const session = this.options.consumerConfig.sessionTimeout;
    this.sessionTimeoutMs = typeof session === 'number' && session > 0 ? session : DEFAULT_SESSION_TIMEOUT_MS;
    this.retryPolicy = fullJitterBackoff({ initial: Math.max(this.options.retryDelayMs, 1e-3), max: this.options.maxRetryDelayMs });
    this.telemetry = new ConsumerTelemetry(this.options.groupId, this.liveCounts(), () => this.partitionLags());
    this.scheduler = new Scheduler<RecordTask>(
      this.options.maxConcurrency,
      {
        invoke: (task) => this.invokeTask(task),
        succeeded: (task) => this.afterSuccess(task),
        // afterFailure does not reject (listeners are told through announce); were it to, the lane must move on.
        failed: (task, error) =>
          this.afterFailure(task, error).catch((unexpected: unknown) => {
            this.emitError(unexpected);
            return DONE;
          }),
        many: (tasks) => this.runBatch(tasks),
      },
      () => this.wakeCapacity(),
      this.options.unitSize,
    );
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => this.onAssignment(event.payload.memberAssignment ?? {}, event.payload.memberId));
    // Commit what is complete as soon as a rebalance starts, so the next owner repeats as little as possible.
    // (The client learnt of it itself: it is rejoining already, so there is no waiting for running handlers.)
    this.consumer.on(this.consumer.events.REBALANCING, () => {
      this.holdForRebalance();
      void this.commit();
    });
    // A client whose group waits for partitions to be given up (Kafka 4's consumer protocol) lets the consumer
    // finish and commit them first, while the partitions that stay go on.
    this.consumer.setRevocationListener?.((partitions) => this.release(partitions));
    const crash = this.consumer.events.CRASH;
    // A crash the client restarts from is its own business (it rejoins the group, GROUP_JOIN follows).
    if (crash !== undefined) {
      this.consumer.on(crash, (event) => {
        if (event.payload.restart === false) this.onCrash(event.payload.error);
      });
    }
  }

  /**
   * Connects, joins the group and starts consuming. Rejects with `ERR_ALREADY_STARTED` when called again, and
   * with `ERR_CLOSED` after close() (also when close() is called while this is still connecting).
   */
  start(): Promise<void> {
    if (this.state === 'running') return Promise.reject(new AlreadyStartedError());
    if (this.state !== 'new') return Promise.reject(new ClosedError('a closed ParallelConsumer'));
    this.state = 'running';
    this.starting = this.join();
    return this.starting;
  }

  /**
   * Connects, subscribes and runs the client's consumer. A close() meanwhile waits for this, which stops at its
   * next step with ClosedError: a run() after the close would join the group again with nothing to leave it.
   */
  private async join(): Promise<void> {
    const stillRunning = (): void => {
      if (this.state !== 'running') throw new ClosedError('a ParallelConsumer closed while it was starting');
    };
    // An unreachable broker and an unknown topic are told apart from other failures alike on every client.
    await this.admin.connect().catch((error: unknown) => Promise.reject(connectFailure(error)));
    stillRunning();
    await this.consumer.connect().catch((error: unknown) => Promise.reject(connectFailure(error)));
    for (const topic of this.options.topics) {
      stillRunning();
      await this.consumer.subscribe({ topic, fromBeginning: this.options.fromBeginning }).catch((error: unknown) => Promise.reject(subscribeFailure(error, topic)));
    }
    stillRunning();
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
    stillRunning();
    if (this.crashWhileStarting !== undefined) throw new ConsumerCrashedError(this.crashWhileStarting);
    // A tick while a commit is under way is skipped: the next one takes what has changed since.
    this.commitTimer = setInterval(() => {
      if (this.committing === undefined) void this.commit();
    }, this.options.commitIntervalMs);
    this.lastTick = performance.now();
    this.stallTimer = setInterval(() => this.checkStall(), STALL_CHECK_MS);
    this.stallTimer.unref();
    // Counted in the process's metrics once it runs (its counts are totals: nothing taken on before is missed),
    // until close(); a start that failed leaves nothing registered.
    this.telemetry.observe();
  }

  /**
   * The process stood still (SIGSTOP, a frozen VM, a blocked event loop) for longer than the session timeout:
   * the group has removed this member and given its partitions to others, which may have run and committed
   * their records meanwhile. Everything is revoked at once, before the timers that came due during the stop
   * start more records (this check runs early among them): running handlers' signals abort, records not
   * started are dropped, nothing of the old assignments is committed, and no record starts until the client
   * has joined again (it learns of the removal from its next heartbeat).
   */
  private checkStall(): void {
    const now = performance.now();
    const still = now - this.lastTick;
    this.lastTick = now;
    if (still < this.sessionTimeoutMs || this.state !== 'running') return;
    this.stalled = true;
    this.holdForRebalance();
    if (this.consumer.confirmMembership !== undefined) {
      // The client can ask the group (whose session timeout is the broker's, not known here): nothing is given up
      // unless the group did remove this member, which the client then says with an assignment of nothing.
      // Dropping the records taken on while the client keeps fetching past them would lose them.
      this.consumer.confirmMembership().then(
        (member) => {
          if (member && this.stalled && this.state === 'running') {
            this.stalled = false;
            this.endHold();
          }
        },
        () => undefined,
      );
      return;
    }
    this.revokeAll();
  }

  /** Counters and per-partition state. */
  metrics(): ConsumerMetrics {
    const partitions: PartitionMetrics[] = [];
    for (const [key, tracker] of this.trackers) {
      const committed = this.committedOffsets.get(key);
      const hw = this.highWatermarks.get(key);
      partitions.push({
        topic: tracker.topic,
        partition: tracker.partition,
        committedOffset: committed?.offset ?? '-1',
        incomplete: tracker.incomplete,
        completedAbove: tracker.completedAbove,
        lag: lagOf(tracker.commitOffset, hw),
        metadataBytes: committed?.metadataBytes ?? 0,
        heldBack: tracker.paused,
      });
    }
    return {
      inFlight: this.scheduler.inFlight,
      buffered: this.buffered,
      received: this.received,
      completed: this.completed,
      failed: this.failed,
      retried: this.retried,
      deadLettered: this.deadLettered,
      commits: this.commits,
      partitions,
    };
  }

  /** The counts telemetry reads at collection: getters over this consumer's own fields. */
  private liveCounts(): Readonly<Record<ConsumerCount, number>> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getters below read this consumer's fields
    const consumer = this;
    return {
      get received() {
        return consumer.received;
      },
      get completed() {
        return consumer.completed;
      },
      get failed() {
        return consumer.failed;
      },
      get retried() {
        return consumer.retried;
      },
      get deadLettered() {
        return consumer.deadLettered;
      },
      get inFlight() {
        return consumer.scheduler.inFlight;
      },
      get buffered() {
        return consumer.buffered;
      },
    };
  }

  private *partitionLags(): Iterable<PartitionLag> {
    for (const [key, tracker] of this.trackers) {
      yield { topic: tracker.topic, partition: tracker.partition, lag: lagOf(tracker.commitOffset, this.highWatermarks.get(key)) };
    }
  }

  /**
   * Stops fetching, waits up to `timeout` ms (default 30 s) for running handlers, commits what is complete and
   * leaves the group. Records not started are consumed again by the next owner; if handlers are still running
   * at the deadline their signals abort and this rejects with CloseTimeoutError. Idempotent.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeout ?? 30_000);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: ClientBatchPayload): Promise<void> {
    if (this.state !== 'running') return;
    const key = partitionKey(batch.topic, batch.partition);
    this.highWatermarks.set(key, Number(batch.highWatermark));
    const tracker = await this.trackerFor(batch.topic, batch.partition);
    const live = (): boolean => this.state === 'running' && isRunning() && !isStale() && this.trackers.get(key) === tracker;
    // Nothing can revoke the partition or close the consumer between two awaits, so liveness is checked once
    // here and again only after waiting: not once per record.
    if (!live()) return;
    // A partition just given to this member: its previous owner's handlers may still be stopping.
    if (tracker.handoverUntil > Date.now() && !(await this.waitUntil(tracker, tracker.handoverUntil, pause, heartbeat, live))) return;
    let last: string | undefined;
    for (const message of batch.messages) {
      if (this.buffered >= this.options.maxBuffered && pause !== undefined && this.consumer.learnsOfRebalancesByFetching === true) {
        // A client that hears of rebalances only when it fetches must fetch on: the partition is paused instead,
        // and the rest of the batch is fetched again once the buffer has room (wakeCapacity).
        tracker.resumeWhenCalled(this.pauseSafely(pause));
        this.pausedForRoom.add(tracker);
        break;
      }
      if (this.buffered >= this.options.maxBuffered) {
        while (this.buffered >= this.options.maxBuffered && live()) {
          // Waiting here holds back this partition's fetches; heartbeats keep the membership alive meanwhile and
          // are how a rebalance is learnt of. kafkajs sends one only when its heartbeat interval has passed, so
          // asking often costs nothing and lets the member hear of a rebalance as soon as kafkajs may ask.
          await this.waitForCapacity(HEARTBEAT_CHECK_MS);
          await this.heartbeatOrRejoin(heartbeat);
        }
        if (!live()) break;
      }
      if (tracker.incomplete >= this.options.maxBufferedPerPartition && !(await this.waitForShare(tracker, pause, heartbeat, live))) break;
      let record: ConsumedRecord | undefined;
      if (this.options.notBefore !== undefined) {
        record = toRecord(batch.topic, batch.partition, message);
        if (!(await this.waitUntil(tracker, this.notBeforeOf(record, this.options.notBefore) - this.options.lookaheadMs, pause, heartbeat, live))) break;
      }
      const offset = Number(message.offset);
      if (!tracker.fits(offset) && !(await this.waitForSpan(tracker, offset, pause, heartbeat, live))) break;
      if (tracker.accept(offset) === 'process') {
        this.buffered++;
        this.received++;
        // Every field set here, so recordOf() and a batch's split fill the object's slots instead of reshaping it.
        this.scheduler.push({ tracker, message, offset, attempt: 1, record, solo: false, startedAt: 0, span: undefined }, tracker.lanes, this.laneOf(message));
      }
      last = message.offset;
    }
    // The fetch position moves on past what was handed over; the commit point does not (see commit()).
    if (last !== undefined) resolveOffset(last);
    await this.heartbeatOrRejoin(heartbeat);
  }

  /**
   * Sends a heartbeat (when the client's interval has passed). A rebalance it reports ends the batch at once:
   * no record starts any more, running handlers get up to `rebalanceDrainMs` to finish, what is complete is
   * committed (still in the ending generation, so the broker takes it) and the error is rethrown, so that the
   * client rejoins now instead of after the batch. Waiting for buffer space or for a
   * partition's offset map could otherwise keep the member out of the rebalance for as long as the handlers
   * take, and past the rebalance timeout the group goes on without it while its handlers still run. Records
   * already taken on stay: those of partitions this member keeps go on, those of partitions it loses are dropped
   * when the new assignment says so (onAssignment). Other failures are left to the client's next heartbeat.
   */
  private async heartbeatOrRejoin(heartbeat: () => Promise<void>): Promise<void> {
    // A rebalance one batch heard of is every batch's: the others end with it, without a heartbeat of their own.
    // kafkajs sends every heartbeat asked for after a failed one (its interval counts from the last success),
    // and logs each refusal at ERROR level: one line per batch in flight, where its eachMessage logs one.
    if (this.rejoin === undefined) {
      try {
        await heartbeat();
        // Still a member after all (the stop was not noticed by the group): go on with what comes next. (A client
        // that confirms membership itself says so in checkStall: its heartbeat() here asks nothing of the group.)
        if (this.stalled && this.state === 'running' && this.consumer.confirmMembership === undefined) {
          this.stalled = false;
          this.endHold();
        }
        return;
      } catch (error) {
        const rebalance = rebalanceCause(error);
        if (rebalance === undefined) return;
        this.rejoin ??= this.prepareRejoin(rebalance);
      }
    }
    await this.rejoin;
  }

  /** Stops taking records on, lets running handlers finish (up to `rebalanceDrainMs`), commits; rejects with `rebalance`. */
  private async prepareRejoin(rebalance: unknown): Promise<never> {
    this.holdForRebalance();
    await this.waitForHandlers(this.options.rebalanceDrainMs, DRAIN_CHECK_MS, () => this.state === 'running');
    await this.commit();
    throw rebalance;
  }

  /**
   * A rebalance began: no record starts until the new assignment (onAssignment), since any partition may move.
   * What would complete meanwhile could not be committed: once the member asks to rejoin, its commits reach the
   * coordinator only after the new generation began, which refuses them, and the next owner runs them again.
   */
  private holdForRebalance(): void {
    if (this.state !== 'running' || this.holding) return;
    this.holding = true;
    this.scheduler.pause();
    this.telemetry.rebalanceStarted();
    this.announce('rebalancing', {});
  }

  private endHold(): void {
    this.holding = false;
    this.scheduler.resume();
  }

  /**
   * Waits until no handler runs, `timeoutMs` passed or `keepWaiting()` turned false, looking every `checkMs`: a
   * rebalance's wait (up to `rebalanceDrainMs`) and close's (up to its timeout).
   */
  private async waitForHandlers(timeoutMs: number, checkMs: number, keepWaiting: () => boolean = () => true): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.scheduler.inFlight > 0 && keepWaiting()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, checkMs)));
    }
  }

  /**
   * Waits until taking on `offset` keeps the partition's offset map within the metadata limit (see
   * PartitionTracker.fits).
   * Usually the records just taken on complete in a moment and the commit point moves: the wait is short and in
   * place. When the commit point stays put for STUCK_MS (a record that is slow, retrying, or stuck), the
   * partition is paused through the client, emitting `metadata-pressure`, and false is returned: the rest of the
   * batch is left unresolved, fetched again after the resume, and the other partitions' batches go on
   * meanwhile. Also false when the batch is no longer live.
   */
  private async waitForSpan(
    tracker: PartitionTracker,
    offset: number,
    pause: ClientBatchPayload['pause'],
    heartbeat: () => Promise<void>,
    live: () => boolean,
  ): Promise<boolean> {
    let commitPoint = tracker.commitOffset;
    let since = performance.now();
    let warned = false;
    while (!tracker.fits(offset)) {
      if (!live()) return false;
      if (tracker.commitOffset !== commitPoint) {
        commitPoint = tracker.commitOffset;
        since = performance.now();
      } else if (performance.now() - since >= STUCK_MS) {
        if (!warned) {
          warned = true;
          this.announce('metadata-pressure', { topic: tracker.topic, partition: tracker.partition, limit: this.options.metadataLimitBytes, waitingOffset: String(offset) });
        }
        if (pause !== undefined) {
          this.resumeWhenFits(tracker, offset, this.pauseSafely(pause));
          return false;
        }
      }
      // Without a client pause (not kafkajs), the wait stays here, holding back other partitions' batches too.
      await this.waitForCapacity(20);
      await this.heartbeatOrRejoin(heartbeat);
    }
    return true;
  }

  /**
   * Nothing of the partition may be taken on before wall-clock ms `at` (a record's notBefore less lookaheadMs,
   * or the end of a handover grace): its partition is paused through the client until then, and false is
   * returned (the rest of the batch is fetched again after the resume). Without a client pause the wait stays
   * here, as in waitForSpan. True when the record may be taken on now.
   */
  private async waitUntil(tracker: PartitionTracker, at: number, pause: ClientBatchPayload['pause'], heartbeat: () => Promise<void>, live: () => boolean): Promise<boolean> {
    let wait = at - Date.now();
    // NaN (a callback that returned no number) counts as due: a record is never held back for ever by mistake.
    if (!(wait > 0)) return true;
    if (pause !== undefined) {
      tracker.resumeAfter(wait, this.pauseSafely(pause));
      return false;
    }
    while (wait > 0) {
      if (!live()) return false;
      await this.waitForCapacity(Math.min(wait, HEARTBEAT_CHECK_MS));
      await this.heartbeatOrRejoin(heartbeat);
      wait = at - Date.now();
    }
    return live();
  }

  /**
   * A partition holds `maxBufferedPerPartition` incomplete records: it is paused through the client until a
   * tenth of them completed, and false is returned (the rest of the batch is fetched again after the resume),
   * so that its slow records cannot take the whole buffer from the other partitions. Without a client pause
   * the wait stays here, as in waitForSpan. Also false when the batch is no longer live.
   */
  private async waitForShare(tracker: PartitionTracker, pause: ClientBatchPayload['pause'], heartbeat: () => Promise<void>, live: () => boolean): Promise<boolean> {
    const share = this.options.maxBufferedPerPartition;
    const resumeAt = share - Math.max(1, Math.floor(share / 10));
    if (pause !== undefined) {
      tracker.resumeWhenAtMost(resumeAt, this.pauseSafely(pause));
      return false;
    }
    while (tracker.incomplete > resumeAt) {
      if (!live()) return false;
      await this.waitForCapacity(20);
      await this.heartbeatOrRejoin(heartbeat);
    }
    return live();
  }

  /** Pauses the batch's partition; returns what resumes it, reporting (not throwing) a client's failure to. */
  private pauseSafely(pause: () => () => void): () => void {
    const resume = pause();
    return () => {
      try {
        resume();
      } catch (error) {
        this.emitError(error);
      }
    };
  }

  /**
   * Resumes a partition paused for its offset map once `offset` fits the span again, or at once when the
   * partition is revoked or the consumer stops (a later assignment of it must not find it paused).
   */
  private resumeWhenFits(tracker: PartitionTracker, offset: number, resume: () => void): void {
    const check = (): void => {
      if (tracker.revoked || this.state !== 'running' || tracker.fits(offset)) {
        resume();
        return;
      }
      setTimeout(check, RESUME_CHECK_MS);
    };
    setTimeout(check, RESUME_CHECK_MS);
  }

  /** The record's lane within its partition's lane group. */
  private laneOf(message: ClientMessage): string {
    switch (this.options.ordering) {
      case 'partition':
        return '';
      case 'unordered':
        return message.offset;
      default: {
        // Records without a key have no order to keep: each is its own lane. Latin-1 decoding never yields a
        // character above U+00FF, so these names cannot meet a key's.
        const text = message.keyLatin1 !== undefined ? message.keyLatin1 : (message.key?.toString('latin1') ?? null);
        return text === null ? `\u0100${message.offset}` : text;
      }
    }
  }

  /** Starts one record's handler; the scheduler awaits what it returns. */
  private invokeTask(task: RecordTask): unknown {
    const { tracker } = task;
    // A record that would start just after a stop past the session timeout (its slot freed by a handler whose
    // timer came due before the stall check's) finds the stop here: its partition is others' by now.
    if (performance.now() - this.lastTick >= this.sessionTimeoutMs) this.checkStall();
    // Revoked while it waited: nothing to run (afterSuccess drops it).
    if (tracker.revoked) return undefined;
    task.startedAt = this.telemetry.startRun();
    // One signal per partition assignment, not per record: revocation and close abort a whole partition's
    // work, and an AbortController per record costs more than a short handler.
    const context = task.attempt === 1 ? tracker.firstAttempt : { attempt: task.attempt, signal: tracker.signal };
    if (!this.telemetry.tracing) return this.options.invokeOne(recordOf(task), context);
    const span = (task.span = this.telemetry.processSpan([recordOf(task)], task.attempt));
    return span.run(() => this.options.invokeOne(recordOf(task), context));
  }

  private afterSuccess(task: RecordTask): Outcome {
    this.telemetry.endRun(task.startedAt);
    task.span?.end();
    task.span = undefined;
    // A completion for a partition this consumer no longer owns (or owns anew) must not touch its offsets.
    return task.tracker.revoked ? this.dropped() : this.finish(task);
  }

  /** A failed record: retry it after a backoff, or (out of attempts) dead-letter it. */
  private async afterFailure(task: RecordTask, failure: unknown): Promise<Outcome> {
    this.telemetry.endRun(task.startedAt, failure);
    task.span?.end(failure);
    task.span = undefined;
    // Given back (or failed) while its partition is being given up: its next owner runs it, not this member,
    // which would start it again only to abort it at the revocation, after the next owner took over.
    if (task.tracker.revoked || task.tracker.leaving) return this.dropped();
    // Given back during a rebalance's wait (see the `rebalancing` event): not a failed attempt; it runs again if
    // the new assignment keeps its partition here.
    if (this.holding) return GIVEN_BACK;
    this.failed++;
    if (task.attempt < this.options.maxAttempts) {
      const delayMs = this.retryPolicy.delay(task.attempt);
      this.retried++;
      this.announce('retry', { record: recordOf(task), attempt: task.attempt, delayMs, error: failure });
      task.attempt++;
      return { kind: 'retry', afterMs: delayMs };
    }
    try {
      await this.deadLetter(task, failure);
    } catch (error) {
      // The dead-letter topic did not take it: keep the record (and its key) waiting rather than lose it.
      this.emitError(error);
      return { kind: 'retry', afterMs: this.options.maxRetryDelayMs };
    }
    this.deadLettered++;
    this.announce('dead', { record: recordOf(task), attempts: task.attempt, error: failure });
    return this.finish(task);
  }

  /**
   * Runs a batch of records of distinct lanes in one handler call. On failure the batch is split: each record
   * goes back to the head of its lane marked solo, to run alone with its own attempts (the batch's failure is
   * not counted against any of them: which one failed is unknown).
   */
  private async runBatch(tasks: RecordTask[]): Promise<Outcome[]> {
    const live = tasks.filter((task) => !task.tracker.revoked);
    if (live.length > 0) {
      const signals = [...new Set(live.map((task) => task.tracker.signal))];
      const startedAt = this.telemetry.startRun();
      const records = live.map(recordOf);
      const span = this.telemetry.tracing ? this.telemetry.processSpan(records, 1) : undefined;
      const context = { attempt: 1, signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals) };
      try {
        await (span === undefined ? this.options.invoke(records, context) : span.run(() => this.options.invoke(records, context)));
        this.telemetry.endRun(startedAt);
        span?.end();
      } catch (error) {
        this.telemetry.endRun(startedAt, error);
        span?.end(error);
        this.announce('batch-split', { records: live.length, error });
        return tasks.map((task) => {
          if (task.tracker.revoked) return this.dropped();
          task.solo = true;
          return { kind: 'retry', afterMs: 0 };
        });
      }
    }
    return tasks.map((task) => (task.tracker.revoked ? this.dropped() : this.finish(task)));
  }

  private finish(task: RecordTask): Outcome {
    task.tracker.complete(task.offset);
    this.completed++;
    this.buffered--;
    return DONE;
  }

  private dropped(): Outcome {
    this.buffered--;
    return DONE;
  }

  private async deadLetter(task: RecordTask, failure: unknown): Promise<void> {
    const topic = this.options.deadLetterTopic;
    if (topic === undefined) return;
    const producer = await this.deadLetterProducer();
    const record = recordOf(task);
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: record.key,
          value: record.value,
          headers: {
            ...record.headers,
            'x-dead-letter-error': describeThrown(failure),
            'x-dead-letter-topic': record.topic,
            'x-dead-letter-partition': String(record.partition),
            'x-dead-letter-offset': record.offset,
            'x-dead-letter-attempts': String(task.attempt),
          },
        },
      ],
    });
  }

  /**
   * The producer for dead letters, made on the first one and shared by every dead letter meanwhile: each waits
   * for the same connect. A connect that fails is forgotten, so the next dead letter (its record retried) tries
   * again with a new producer.
   */
  private deadLetterProducer(): Promise<ClientProducer> {
    if (this.producer !== undefined) return this.producer;
    const made = this.options.kafka.producer({ allowAutoTopicCreation: true, idempotent: true, maxInFlightRequests: 1 });
    const connecting = made.connect().then(
      () => made,
      async (error: unknown) => {
        if (this.producer === connecting) this.producer = undefined;
        await made.disconnect().catch(() => undefined);
        throw error;
      },
    );
    this.producer = connecting;
    return connecting;
  }

  private async trackerFor(topic: string, partition: number): Promise<PartitionTracker> {
    const key = partitionKey(topic, partition);
    const existing = this.trackers.get(key);
    if (existing) return existing;
    let load = this.loading.get(topic);
    if (!load) {
      load = this.admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] }).then(
        (topics) => {
          const byPartition = new Map<number, { offset: string; metadata: string | null }>();
          for (const p of topics[0]?.partitions ?? []) byPartition.set(p.partition, { offset: p.offset, metadata: p.metadata });
          return byPartition;
        },
        (error: unknown) => {
          // Not cached: the batch fails (kafkajs fetches it again) and the next attempt asks the broker anew.
          this.loading.delete(topic);
          throw error;
        },
      );
      this.loading.set(topic, load);
    }
    const committed = (await load).get(partition);
    const again = this.trackers.get(key);
    if (again) return again;
    const tracker = new PartitionTracker(topic, partition, Number(committed?.offset ?? '-1'), committed?.metadata, this.options.metadataLimitBytes);
    tracker.handoverUntil = this.assignedAt + this.options.handoverGraceMs;
    this.trackers.set(key, tracker);
    // What the group has committed is this partition's commit point until this member commits anew.
    if (committed !== undefined && Number(committed.offset) >= 0) this.committedOffsets.set(key, { offset: committed.offset, metadataBytes: committed.metadata?.length ?? 0 });
    return tracker;
  }

  /**
   * The client's consumer is gone: say so, and close (running handlers get the usual deadline). Nothing more is
   * committed: the client cannot, so what is not yet committed is consumed again by the next owner.
   */
  private onCrash(cause: unknown): void {
    if (this.state !== 'running') return;
    // Before run() has answered, start() rejects with it (kafkajs may announce a crash of its first join and
    // then resolve run() all the same: the group refused this member's assigners, say).
    if (this.commitTimer === undefined) {
      this.crashWhileStarting ??= cause;
      return;
    }
    this.crashed = true;
    this.emitError(new ConsumerCrashedError(cause));
    // The caller's own close() returns this same promise, with its outcome; here it only must not go unhandled.
    this.close().catch(() => undefined);
  }

  private onAssignment(assignment: Record<string, number[]>, memberId: string | undefined): void {
    // A new member id: this member was removed from the group (its session expired) and joined again. Its
    // partitions were others' meanwhile, so what it knew of them, even of those it gets back, is out of date.
    if (memberId !== undefined && this.memberId !== undefined && memberId !== this.memberId) this.revokeAll();
    this.memberId = memberId ?? this.memberId;
    this.stalled = false;
    this.rejoin = undefined;
    this.assignedAt = Date.now();
    const owned = new Set<string>();
    const partitions: { topic: string; partition: number }[] = [];
    for (const [topic, list] of Object.entries(assignment)) {
      for (const partition of list) {
        owned.add(partitionKey(topic, partition));
        partitions.push({ topic, partition });
      }
    }
    // The committed offsets of newly assigned partitions may have moved while others owned them.
    this.loading.clear();
    // A partition taken away: its records not started are dropped and its running handlers' signals abort, at
    // the moment the member learns of it. Its next owner learns of it at the same moment and must still read
    // the committed offsets and fetch before it runs anything.
    for (const [key, tracker] of this.trackers) if (!owned.has(key)) this.revoke(key, tracker);
    if (this.state === 'running') this.endHold();
    this.telemetry.rebalanceEnded();
    this.announce('assigned', { partitions });
    this.wakeCapacity();
  }

  /**
   * The group takes `partitions` away and waits until this member lets go (a client with a revocation listener).
   * Their records not started are dropped at once (the next owner fetches them again from the commit), running
   * ones get up to `rebalanceDrainMs` to finish, what is complete is committed, and then the partitions are
   * revoked: handlers still running have their signal aborted. The other partitions go on throughout.
   */
  private async release(partitions: { topic: string; partition: number }[]): Promise<void> {
    const leaving: [string, PartitionTracker][] = [];
    for (const { topic, partition } of partitions) {
      const key = partitionKey(topic, partition);
      const tracker = this.trackers.get(key);
      if (tracker === undefined) continue;
      this.buffered -= this.scheduler.dropGroup(tracker.lanes);
      tracker.leaving = true;
      leaving.push([key, tracker]);
    }
    if (leaving.length === 0) return;
    this.wakeCapacity();
    this.telemetry.rebalanceStarted();
    this.announce('rebalancing', { partitions: leaving.map(([, { topic, partition }]) => ({ topic, partition })) });
    const deadline = Date.now() + this.options.rebalanceDrainMs;
    const running = (): boolean => leaving.some(([, tracker]) => this.scheduler.runningIn(tracker.lanes) > 0);
    while (this.state === 'running' && running() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS));
    await this.commit();
    for (const [key, tracker] of leaving) if (this.trackers.get(key) === tracker) this.revoke(key, tracker);
  }

  /** Gives up a partition: its records not started are dropped and its running handlers' signals abort. */
  private revoke(key: string, tracker: PartitionTracker): void {
    this.trackers.delete(key);
    this.committedOffsets.delete(key);
    this.buffered -= this.scheduler.dropGroup(tracker.lanes);
    tracker.revoke(new PartitionRevokedError(tracker.topic, tracker.partition));
  }

  private revokeAll(): void {
    for (const [key, tracker] of this.trackers) this.revoke(key, tracker);
    // The committed offsets are read again for every partition assigned from now on.
    this.loading.clear();
  }

  /**
   * Commits every owned partition whose state changed, as it is now; sent after a commit under way, so commits
   * reach the broker in the order they were taken.
   */
  private commit(): Promise<void> {
    if (this.crashed) return Promise.resolve();
    const entries: CommitEntry[] = [];
    for (const [key, tracker] of this.trackers) {
      const next = tracker.takeCommit();
      if (!next) continue;
      if (next.truncated) this.announce('metadata-pressure', { topic: tracker.topic, partition: tracker.partition, limit: this.options.metadataLimitBytes });
      entries.push({ key, tracker, offset: next.offset, metadata: next.metadata });
    }
    if (entries.length === 0) return this.committing ?? Promise.resolve();
    const work = (this.committing ?? Promise.resolve()).then(() => this.sendCommit(entries));
    const settled = work.finally(() => {
      if (this.committing === settled) this.committing = undefined;
    });
    this.committing = settled;
    return settled;
  }

  private async sendCommit(taken: CommitEntry[]): Promise<void> {
    // A partition given up since the state was taken is not committed: its next owner (or this member after
    // it joined again) may have moved it on, and this state would move its committed offset back.
    const entries = taken.filter((e) => this.trackers.get(e.key) === e.tracker);
    if (entries.length === 0) return;
    try {
      const startedAt = performance.now();
      await this.consumer.commitOffsets(
        entries.map((e) => ({ topic: e.tracker.topic, partition: e.tracker.partition, offset: String(e.offset), metadata: e.metadata })),
      );
      this.telemetry.commitTook((performance.now() - startedAt) / 1000);
      for (const e of entries) {
        this.commits++;
        // (A partition given up meanwhile has no metrics to update.)
        if (this.trackers.get(e.key) === e.tracker) this.committedOffsets.set(e.key, { offset: String(e.offset), metadataBytes: e.metadata.length });
        this.announce('committed', { topic: e.tracker.topic, partition: e.tracker.partition, offset: String(e.offset), metadataBytes: e.metadata.length });
      }
    } catch (error) {
      // Typically a rebalance in progress: try again on the next tick (the trackers keep their state).
      for (const e of entries) e.tracker.markChanged();
      // After a crash, a commit that was under way fails for the same reason: the crash was already said.
      if (isRebalanceError(error) || this.crashed) return;
      if (causeWithType(error, (type) => type === 'OFFSET_METADATA_TOO_LARGE') !== undefined) {
        this.emitError(new MetadataTooLargeError(Math.max(...entries.map((e) => e.metadata.length)), this.options.metadataLimitBytes, error));
      } else {
        this.emitError(error);
      }
    }
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    if (this.state === 'new') {
      this.state = 'closed';
      return;
    }
    this.state = 'closing';
    // A start() under way stops at its next step; what it connected is disconnected below.
    await this.starting?.catch(() => undefined);
    this.scheduler.pause();
    this.wakeCapacity();
    clearInterval(this.commitTimer);
    clearInterval(this.stallTimer);
    let failure: CloseTimeoutError | undefined;
    await this.waitForHandlers(timeoutMs, CLOSE_CHECK_MS);
    if (this.scheduler.inFlight > 0) {
      failure = new CloseTimeoutError(timeoutMs, this.scheduler.inFlight, { consequence: 'their records will be consumed again' });
      for (const tracker of this.trackers.values()) tracker.revoke(failure);
    }
    this.scheduler.clearTimers();
    for (const tracker of this.trackers.values()) tracker.forgetPause();
    // Records taken on but never started (or waiting for a retry) are the next owner's now: not buffered here.
    for (const tracker of this.trackers.values()) this.buffered -= this.scheduler.dropGroup(tracker.lanes);
    await this.commit();
    // A commit that failed during a rebalance gets one more try before we leave the group.
    await this.commit();
    this.state = 'closed';
    // Counted up to here: the handlers that ended during close count as completed.
    this.telemetry.close();
    // Each client is disconnected whatever happened to the one before; the first failure is reported.
    const disconnects = [
      () => this.consumer.disconnect(),
      () => this.admin.disconnect(),
      async () => {
        // A producer still connecting is waited for; one whose connect failed has nothing to disconnect.
        const producer = await this.producer?.catch(() => undefined);
        await producer?.disconnect();
      },
    ];
    let refused: { error: unknown } | undefined;
    for (const disconnect of disconnects) {
      try {
        await disconnect();
      } catch (error) {
        refused ??= { error };
      }
    }
    if (failure) throw failure;
    if (refused) throw refused.error;
  }

  private waitForCapacity(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.capacityWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeCapacity(): void {
    if (this.capacityWaiters.length === 0 && this.pausedForRoom.size === 0) return;
    // Wake only once a tenth of the buffer is free, so the fetcher hands over records in chunks instead of
    // waking (and waiting again) for every single completion.
    if (this.buffered > this.resumeAt && this.state === 'running') return;
    const paused = [...this.pausedForRoom];
    this.pausedForRoom.clear();
    for (const tracker of paused) tracker.resumePaused();
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Tells the listeners of `event`. A listener that throws is reported as a CallbackError on `error` and stops
   * nothing: the record it was told of completes all the same (before, a throwing `dead` listener left its record
   * incomplete for good, holding the partition's commit point).
   */
  private announce<K extends Exclude<keyof ParallelConsumerEvents, 'error'>>(event: K, ...args: ParallelConsumerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ParallelConsumerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.emitError(new CallbackError(`a '${event}' listener`, 'the consumer went on as if it had returned', error));
    }
  }

  /** When `record` may start (notBefore's answer); a throw or a value that is not a finite number means now. */
  private notBeforeOf(record: ConsumedRecord, notBefore: (record: ConsumedRecord) => number): number {
    let at: unknown;
    try {
      at = notBefore(record);
    } catch (error) {
      this.emitError(new CallbackError('options.notBefore', `${record.topic}[${record.partition}] offset ${record.offset} is taken on now`, error));
      return 0;
    }
    if (typeof at === 'number' && Number.isFinite(at)) return at;
    this.emitError(
      new CallbackError('options.notBefore', `${record.topic}[${record.partition}] offset ${record.offset} is taken on now`, new TypeError(`it returned ${inspect(at)}, not epoch ms`)),
    );
    return 0;
  }

  private emitError(error: unknown): void {
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error);
      } catch (thrown) {
        // An error listener that throws: said as a warning rather than thrown into the consumer's own work.
        process.emitWarning(describeThrown(thrown), { code: 'X_KAFKA_FAST_BACKGROUND' });
      }
    } else {
      // A string, never the error itself: emitWarning refuses an Error from another realm (a vm context, jest).
      const stack = (error as { stack?: unknown } | null | undefined)?.stack;
      process.emitWarning(typeof stack === 'string' ? stack : describeThrown(error), { code: 'X_KAFKA_FAST_BACKGROUND' });
    }
  }
}

/** How long a partition's commit point may stand still, with its offset map full, before the partition pauses. */
const STUCK_MS = 1_000;
/** How often a rebalance's wait for running handlers looks again, ms. */
const DRAIN_CHECK_MS = 5;
/** How often close's wait for running handlers looks again, ms. */
const CLOSE_CHECK_MS = 10;
/** How often the consumer looks whether the process stood still past the session timeout, ms. */
const STALL_CHECK_MS = 100;
/** kafkajs's own session timeout. */
const DEFAULT_SESSION_TIMEOUT_MS = 30_000;

/**
 * The client's longest wait for a fetch (kafkajs's `maxWaitTimeInMs`, 5 s of its own) unless the user sets one.
 * kafkajs also sleeps this long when every partition it would fetch is paused, and a resume does not wake it: a
 * partition paused for its offset map would come back up to 5 s after it fits again, and a close waits out the
 * last fetch. With 50 ms both take at most that; what it costs is an idle consumer asking each broker 20 times a
 * second instead of once in 5 s (the Java client's default is 500 ms).
 */
const DEFAULT_MAX_WAIT_MS = 50;

/** How often a batch waiting for buffer space asks for a heartbeat (sent when kafkajs's interval has passed). */
const HEARTBEAT_CHECK_MS = 50;

/** How often a paused partition checks whether it fits again. */
const RESUME_CHECK_MS = 5;

function toRecord(topic: string, partition: number, message: ClientMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: message.headers ?? {},
    timestamp: message.timestamp,
  };
}

/** A record its handler gave back during a rebalance's wait: it runs again after the rebalance, same attempt. */
const GIVEN_BACK: Outcome = Object.freeze({ kind: 'retry', afterMs: 0 });

/** High watermark minus the offset to commit; 0 before either is known. */
function lagOf(commitOffset: number, highWatermark: number | undefined): number {
  return highWatermark === undefined || commitOffset < 0 ? 0 : highWatermark - commitOffset;
}
