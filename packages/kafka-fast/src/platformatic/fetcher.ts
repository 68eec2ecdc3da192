import type { Consumer, fetchV17 } from '@platformatic/kafka';
import type { ClientBatchPayload } from '../client.js';
import { partitionKey as key } from '../partition-key.js';
import { brokerErrorIds } from './protocol-error.js';
import { decodeRecords } from './records.js';

/** Fetch sizes and waits, as kafkajs names them in its consumer config. */
export interface FetchSettings {
  maxWaitTimeInMs: number;
  minBytes: number;
  maxBytes: number;
  maxBytesPerPartition: number;
  /** 1 (read_committed, kafkajs's default) or 0 (read_uncommitted). */
  isolationLevel: number;
}

interface FetchedPartition {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to fetch. */
  position: bigint;
  paused: boolean;
}

/**
 * Fetches the partitions it is given from their leaders and hands each partition's records to `eachBatch`, one
 * batch at a time, with kafkajs's eachBatch contract: the position moves only by `resolveOffset`, records not
 * resolved are fetched again, `pause()` keeps a partition out of the fetches until its resume, and `isStale()`
 * turns true once the partition was removed (a revocation) or given again. A resume wakes the loop at once;
 * while any partition is paused no fetch waits longer than PAUSED_MAX_WAIT_MS, so a resumed partition comes back
 * within that even when others have nothing new.
 */
export class PartitionFetcher {
  private readonly partitions = new Map<string, FetchedPartition>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** A partition failed with an error that can mean its leader moved: the next round asks for fresh metadata. */
  private staleMetadata = false;

  constructor(
    private readonly client: Consumer,
    private readonly settings: FetchSettings,
    private readonly eachBatch: (payload: ClientBatchPayload) => Promise<void>,
  ) {}

  add(topic: string, partition: number, position: bigint): void {
    this.partitions.set(key(topic, partition), { topic, partition, position, paused: false });
    this.wakeUp();
  }

  remove(topic: string, partition: number): void {
    this.partitions.delete(key(topic, partition));
  }

  has(topic: string, partition: number): boolean {
    return this.partitions.has(key(topic, partition));
  }

  start(): void {
    this.running = true;
    this.loop ??= this.run();
  }

  /** Stops fetching; resolves once the batch being handed over (if any) returned. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp();
    await this.loop;
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const ready = [...this.partitions.values()].filter((state) => !state.paused);
      if (ready.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        await this.fetchOnce(ready);
      } catch {
        // A broker down or moving, or a batch the consumer failed: positions did not move, so the same records
        // are fetched again (as kafkajs does; the client's own retries came first).
        this.staleMetadata = true;
        if (this.running) await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  private async fetchOnce(ready: FetchedPartition[]): Promise<void> {
    const metadata = await this.client.metadata({ topics: [...new Set(ready.map(({ topic }) => topic))], forceUpdate: this.staleMetadata });
    this.staleMetadata = false;
    const byLeader = new Map<number, { state: FetchedPartition; topicId: string }[]>();
    for (const state of ready) {
      const topic = metadata.topics.get(state.topic);
      const leader = topic?.partitions[state.partition]?.leader;
      if (topic === undefined || leader === undefined || leader < 0) continue;
      const list = byLeader.get(leader) ?? [];
      list.push({ state, topicId: topic.id });
      byLeader.set(leader, list);
    }
    if (byLeader.size === 0) {
      // No leader known for any of them (an election, a topic being recreated): ask again after a pause, not in
      // a tight loop over cached metadata.
      this.staleMetadata = true;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      return;
    }
    const maxWait = [...this.partitions.values()].some((state) => state.paused) ? Math.min(this.settings.maxWaitTimeInMs, PAUSED_MAX_WAIT_MS) : this.settings.maxWaitTimeInMs;
    const fetched = await Promise.all([...byLeader].map(([node, list]) => this.fetchFrom(node, list, maxWait)));
    for (const results of fetched) {
      for (const { state, requested, response } of results) {
        if (!this.running) return;
        // Removed, given again, paused or moved on while the fetch was out: what came back is not for now.
        if (this.partitions.get(key(state.topic, state.partition)) !== state || state.paused || state.position !== requested) continue;
        await this.deliver(state, response);
      }
    }
  }

  private async fetchFrom(node: number, list: { state: FetchedPartition; topicId: string }[], maxWait: number) {
    const requested = new Map(list.map(({ state }) => [state, state.position]));
    const topics = new Map<string, fetchV17.FetchRequestPartition[]>();
    for (const { state, topicId } of list) {
      const partitions = topics.get(topicId) ?? [];
      partitions.push({ partition: state.partition, currentLeaderEpoch: -1, fetchOffset: state.position, lastFetchedEpoch: -1, partitionMaxBytes: this.settings.maxBytesPerPartition });
      topics.set(topicId, partitions);
    }
    let response: fetchV17.FetchResponse;
    try {
      response = await this.client.fetch({
        node,
        topics: [...topics].map(([topicId, partitions]) => ({ topicId, partitions })),
        maxWaitTime: maxWait,
        minBytes: this.settings.minBytes,
        maxBytes: this.settings.maxBytes,
        isolationLevel: this.settings.isolationLevel,
      });
    } catch (error) {
      // A response with failed partitions comes as an error holding the whole response: the others are good.
      const whole = (error as { response?: fetchV17.FetchResponse }).response;
      if (whole === undefined || !Array.isArray(whole.responses)) throw error;
      if (brokerErrorIds(error).has('OFFSET_OUT_OF_RANGE')) this.resetOutOfRange(whole, list);
      response = whole;
    }
    const byId = new Map(list.map(({ state, topicId }) => [`${topicId}:${state.partition}`, state]));
    const results: { state: FetchedPartition; requested: bigint; response: fetchV17.FetchResponsePartition }[] = [];
    for (const topic of response.responses) {
      for (const partition of topic.partitions) {
        const state = byId.get(`${topic.topicId}:${partition.partitionIndex}`);
        if (state === undefined) continue;
        if (partition.errorCode !== 0) {
          this.staleMetadata = true;
          continue;
        }
        results.push({ state, requested: requested.get(state)!, response: partition });
      }
    }
    return results;
  }

  /** A position below the log's start (retention deleted it) or above its end: from the earliest record on. */
  private resetOutOfRange(response: fetchV17.FetchResponse, list: { state: FetchedPartition; topicId: string }[]): void {
    for (const topic of response.responses) {
      for (const partition of topic.partitions) {
        if (partition.errorCode !== OFFSET_OUT_OF_RANGE) continue;
        const found = list.find(({ state, topicId }) => topicId === topic.topicId && state.partition === partition.partitionIndex);
        if (found !== undefined) found.state.position = partition.logStartOffset;
      }
    }
  }

  private async deliver(state: FetchedPartition, response: fetchV17.FetchResponsePartition): Promise<void> {
    const { messages, next } = decodeRecords(response, state.position);
    if (messages.length === 0) {
      state.position = next; // nothing but control batches or aborted transactions
      return;
    }
    const isCurrent = (): boolean => this.partitions.get(key(state.topic, state.partition)) === state;
    const payload: ClientBatchPayload = {
      batch: { topic: state.topic, partition: state.partition, highWatermark: response.highWatermark.toString(), messages },
      resolveOffset: (offset) => {
        const after = BigInt(offset) + 1n;
        if (isCurrent() && after > state.position) state.position = after;
      },
      // Membership is kept by the group member's own heartbeats; a rebalance never interrupts a batch here.
      heartbeat: () => Promise.resolve(),
      isRunning: () => this.running,
      isStale: () => !isCurrent(),
      pause: () => {
        state.paused = true;
        return () => {
          if (!state.paused) return;
          state.paused = false;
          if (isCurrent()) this.wakeUp();
        };
      },
    };
    await this.eachBatch(payload);
  }
}

/** The longest fetch wait while some partition is paused: how late a resumed partition can be fetched again. */
const PAUSED_MAX_WAIT_MS = 50;
/** Wait after a failed fetch round. */
const RETRY_MS = 200;
/** The broker's error code for a fetch offset outside the log. */
const OFFSET_OUT_OF_RANGE = 1;
