import { EventEmitter } from 'node:events';
import { type BaseOptions, Consumer } from '@platformatic/kafka';
import type { ClientBatchPayload, ClientConsumer, ClientEvent, RevocationListener } from '../client.js';
import { NotConnectedError } from '../errors.js';
import { partitionKey as key, splitPartitionKey } from '../partition-key.js';
import { PartitionFetcher, type FetchSettings } from './fetcher.js';
import { GroupMember, type TopicPartition } from './group-member.js';
import { firstAnswer } from './first-answer.js';

/** The consumer settings this client reads, by kafkajs's names (ParallelConsumer's `consumerConfig`). */
export interface GroupConsumerSettings extends FetchSettings {
  groupId: string;
  /** How long the group waits for this member to give partitions up before it fences it, ms. */
  rebalanceTimeout: number;
  /** The broker's assignor to use (`uniform`, `range`); the broker's default without it. */
  serverAssignor?: string;
  /** Member ids start with it (see GroupMember). */
  memberIdPrefix?: string;
}

/**
 * A consumer in a group on Kafka 4's consumer protocol, with the KafkaJS-shaped surface ParallelConsumer drives:
 * a {@link GroupMember} keeps the membership, a {@link PartitionFetcher} fetches what it owns. Partitions taken
 * away are handed to the revocation listener (awaited) before the group hears they are free; partitions that
 * stay keep being fetched throughout. `REBALANCING` is never emitted: there is no group-wide stop to announce.
 */
export class GroupConsumer implements ClientConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' } as const;
  private readonly emitter = new EventEmitter();
  private readonly subscriptions = new Map<string, boolean>();
  /** One client for the group's requests, another for fetches: a heartbeat never waits behind a long fetch. */
  private groupClient: Consumer | undefined;
  private fetchClient: Consumer | undefined;
  private member: GroupMember | undefined;
  private fetcher: PartitionFetcher | undefined;
  private revocationListener: RevocationListener | undefined;
  /** Owned now, as the member last said (a revocation removes at its start): what may be fetched. */
  private readonly owned = new Set<string>();
  /** Assignments are taken on in order: the positions of new partitions are read before they are fetched. */
  private assigning: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly clientOptions: BaseOptions,
    private readonly settings: GroupConsumerSettings,
  ) {}

  async connect(): Promise<void> {
    this.groupClient ??= new Consumer({ ...this.clientOptions, groupId: this.settings.groupId });
    this.fetchClient ??= new Consumer({ ...this.clientOptions, groupId: this.settings.groupId });
    try {
      await firstAnswer(this.groupClient, this.clientOptions);
    } catch (error) {
      // Both clients go with the unanswered one: a connect tried again makes new ones.
      await this.fetchClient.close().catch(() => undefined);
      this.groupClient = this.fetchClient = undefined;
      throw error;
    }
  }

  /**
   * Rejects for a topic the broker does not have (an error of kafkajs's type `UNKNOWN_TOPIC_OR_PARTITION`, which
   * ParallelConsumer reports as UnknownTopicError): the group would assign nothing of it and the consumer would
   * sit idle. Asked without creating it, whatever the broker's auto.create.topics.enable.
   */
  async subscribe({ topic, fromBeginning }: { topic: string; fromBeginning?: boolean }): Promise<void> {
    if (this.groupClient === undefined) throw new NotConnectedError();
    await this.groupClient.metadata({ topics: [topic], autocreateTopics: false }).catch((error: unknown) => {
      // @platformatic/kafka says so with a UserError (PLT_KFK_USER) "Unknown topic <name>."; other failures pass.
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (code === 'PLT_KFK_USER' && typeof message === 'string' && /unknown topic/i.test(message)) {
        throw Object.assign(new Error(`the broker has no topic ${JSON.stringify(topic)}`, { cause: error }), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
      }
      throw error;
    });
    this.subscriptions.set(topic, fromBeginning === true);
  }

  setRevocationListener(listener: RevocationListener): void {
    this.revocationListener = listener;
  }

  confirmMembership(): Promise<boolean> {
    return this.member?.confirm() ?? Promise.resolve(false);
  }

  async run(config: { eachBatch: (payload: ClientBatchPayload) => Promise<void> }): Promise<void> {
    if (this.groupClient === undefined || this.fetchClient === undefined) throw new NotConnectedError();
    const fetcher = new PartitionFetcher(this.fetchClient, this.settings, config.eachBatch);
    this.fetcher = fetcher;
    this.member = new GroupMember(this.groupClient, this.settings.groupId, [...this.subscriptions.keys()], this.settings, {
      revoke: async (partitions) => {
        for (const { topic, partition } of partitions) {
          this.owned.delete(key(topic, partition));
          fetcher.remove(topic, partition);
        }
        await this.revocationListener?.(partitions);
      },
      assigned: (owned, memberId) => {
        this.assigning = this.assigning.then(() => this.take(owned, memberId));
      },
      failed: (error) => this.emitter.emit(this.events.CRASH, { payload: { error, restart: false } } satisfies ClientEvent),
    });
    this.running = true;
    await this.member.join();
    fetcher.start();
  }

  /** Takes on what the member owns now: lost partitions leave the fetcher, new ones join it at their position. */
  private async take(owned: Record<string, number[]>, memberId: string): Promise<void> {
    const fetcher = this.fetcher!;
    const now = new Set<string>();
    const fresh: TopicPartition[] = [];
    for (const [topic, partitions] of Object.entries(owned)) {
      for (const partition of partitions) {
        now.add(key(topic, partition));
        if (!fetcher.has(topic, partition)) fresh.push({ topic, partition });
      }
    }
    for (const was of this.owned) {
      if (now.has(was)) continue;
      const [topic, partition] = splitPartitionKey(was);
      fetcher.remove(topic, partition);
    }
    this.owned.clear();
    for (const partition of now) this.owned.add(partition);
    // The new partitions' positions are read before the assignment is announced: `assigned` then means records
    // produced from now on are this member's (with fromBeginning false, the log's end is read first).
    let positions = new Map<string, bigint>();
    while (this.running && fresh.length > 0) {
      try {
        positions = await this.positions(fresh);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, POSITION_RETRY_MS));
      }
    }
    this.emitter.emit(this.events.GROUP_JOIN, { payload: { memberAssignment: owned, memberId } } satisfies ClientEvent);
    for (const { topic, partition } of fresh) {
      const position = positions.get(key(topic, partition));
      // Still owned (no revocation came meanwhile): fetched from where the group left it.
      if (position !== undefined && this.owned.has(key(topic, partition)) && !fetcher.has(topic, partition)) fetcher.add(topic, partition, position);
    }
  }

  /** Where to fetch each partition from: its committed offset, else the log's start or end (`fromBeginning`). */
  private async positions(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    const topics = [...new Set(partitions.map(({ topic }) => topic))];
    const committed = await this.member!.committed(topics);
    const positions = new Map<string, bigint>();
    const unset: TopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      const offset = committed.get(topic)?.get(partition)?.offset ?? -1n;
      if (offset >= 0n) positions.set(key(topic, partition), offset);
      else unset.push({ topic, partition });
    }
    for (const fromBeginning of [true, false]) {
      const these = unset.filter(({ topic }) => this.subscriptions.get(topic) === fromBeginning);
      if (these.length === 0) continue;
      const byTopic: Record<string, number[]> = {};
      for (const { topic, partition } of these) (byTopic[topic] ??= []).push(partition);
      const offsets = await this.groupClient!.listOffsets({ topics: Object.keys(byTopic), partitions: byTopic, timestamp: fromBeginning ? EARLIEST : LATEST });
      for (const { topic, partition } of these) {
        const offset = offsets.get(topic)?.[partition];
        if (offset === undefined) throw new Error(`no ${fromBeginning ? 'earliest' : 'latest'} offset for ${topic}/${partition}`);
        positions.set(key(topic, partition), offset);
      }
    }
    return positions;
  }

  async commitOffsets(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void> {
    if (this.member === undefined) throw new NotConnectedError();
    await this.member.commit(offsets);
  }

  async disconnect(): Promise<void> {
    this.running = false;
    await this.fetcher?.stop();
    await this.member?.leave();
    await Promise.all([this.groupClient?.close(), this.fetchClient?.close()]);
  }

  on(event: string, listener: (event: ClientEvent) => void): this {
    this.emitter.on(event, listener);
    return this;
  }
}

/** ListOffsets timestamps that ask for the log's first offset and for its end. */
const EARLIEST = -2n;
const LATEST = -1n;
/** Wait before reading new partitions' positions again after a failure. */
const POSITION_RETRY_MS = 200;
