import { randomUUID } from 'node:crypto';
import { fullJitterBackoff, sleep } from '@x/core';
import { type Connection, consumerGroupHeartbeatV1, offsetCommitV9 } from '@platformatic/kafka';
import { type ClusterClient, connectToCoordinator } from './coordinator.js';
import { fetchCommitted, type CommittedOffset } from './offsets.js';
import { ConsumerProtocolUnsupportedError } from '../errors.js';
import { memberIdOf } from './consumer-settings.js';
import { asGroupRequestError, hasBrokerError } from './protocol-error.js';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What a {@link GroupMember} tells its consumer. */
export interface MemberListener {
  /**
   * The group takes `partitions` away. Awaited: the member tells the group they are free only when this
   * resolves, so running records can finish and be committed first. Past the rebalance timeout the group
   * fences the member (it then loses everything, see `assigned`).
   */
  revoke(partitions: TopicPartition[]): Promise<void>;
  /**
   * The partitions owned from now on, by topic, after any change: the first assignment (empty or not), a
   * revocation, new partitions, or the loss of every partition when the group fenced or removed this member.
   */
  assigned(owned: Record<string, number[]>, memberId: string): void;
  /** A heartbeat failure the member cannot get past (authorization, a broker without the consumer protocol). */
  failed(error: unknown): void;
}

/**
 * One member of a consumer group on Kafka 4's consumer protocol (KIP-848): heartbeats carry what the member
 * owns, and the broker answers with what it should own. Partitions taken away are given up only after the
 * listener let go of them; the broker gives them to another member only then (or after the rebalance timeout).
 * Partitions that stay are not touched: a member joining or leaving moves only what must move.
 */
export class GroupMember {
  /** Chosen by the member, as the protocol's version 1 asks: see {@link memberIdOf}. */
  readonly memberId: string;
  private epoch = JOINING_EPOCH;
  /** Owned partitions by topic id: what every heartbeat reports. */
  private readonly owned = new Map<string, Set<number>>();
  private readonly names = new Map<string, string>();
  /** The broker's latest assignment not yet taken on. */
  private target: { topicId: string; partitions: number[] }[] | undefined;
  private reconciling = false;
  /** What is owned changed (or was never said) since the listener was last told. */
  private unannounced = true;
  private coordinator: Connection | undefined;
  private intervalMs = FIRST_INTERVAL_MS;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private beatAgain = false;
  private stopped = false;
  /** Counts the times the group fenced this member: a revocation awaited across one must not apply after it. */
  private fencings = 0;
  /** The last heartbeat sent was answered (not failed). */
  private answered = false;

  constructor(
    private readonly client: ClusterClient,
    private readonly groupId: string,
    private readonly topics: string[],
    private readonly settings: { rebalanceTimeout: number; serverAssignor?: string; memberIdPrefix?: string },
    private readonly listener: MemberListener,
  ) {
    this.memberId = memberIdOf(settings.memberIdPrefix, randomUUID());
  }

  /**
   * Joins the group: resolves once the first heartbeat was answered (rejects with its failure). A coordinator
   * that is moving, loading or not there yet (a fresh cluster creating its offsets topic, a broker just
   * restarted) is asked again, with backoff, for up to JOIN_GIVE_UP_MS, as kafkajs does: before, the first start
   * on a fresh broker failed with COORDINATOR_NOT_AVAILABLE.
   */
  async join(): Promise<void> {
    const deadline = Date.now() + JOIN_GIVE_UP_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.joinOnce();
        return;
      } catch (error) {
        if (this.stopped || Date.now() >= deadline || !hasBrokerError(error, ...COORDINATOR_MOVING)) throw error;
        await sleep(JOIN_RETRY.delay(attempt));
      }
    }
  }

  private async joinOnce(): Promise<void> {
    const connection = await connectToCoordinator(this.client, this.groupId);
    this.coordinator = connection;
    let response: Awaited<ReturnType<GroupMember['send']>>;
    try {
      response = await this.send(connection);
    } catch (error) {
      const unsupported = (error as { code?: unknown }).code === 'PLT_KFK_UNSUPPORTED_API' || hasBrokerError(error, 'UNSUPPORTED_VERSION');
      throw unsupported ? new ConsumerProtocolUnsupportedError(error) : asGroupRequestError(error, 'ConsumerGroupHeartbeat');
    }
    this.take(response);
  }

  /** Leaves the group (epoch -1): its partitions go to the others at once. Best effort. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
    if (this.coordinator === undefined || this.epoch === JOINING_EPOCH) return;
    this.epoch = LEAVING_EPOCH;
    await this.send(this.coordinator).catch(() => undefined);
  }

  /** Commits offsets with their metadata as this member, in its current epoch (a stale epoch is refused). */
  async commit(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void> {
    const topics = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[]>();
    for (const { topic, partition, offset, metadata } of offsets) {
      const partitions = topics.get(topic) ?? [];
      partitions.push({ partitionIndex: partition, committedOffset: BigInt(offset), committedLeaderEpoch: -1, committedMetadata: metadata ?? null });
      topics.set(topic, partitions);
    }
    try {
      this.coordinator ??= await connectToCoordinator(this.client, this.groupId);
      await offsetCommitV9.api.async(this.coordinator, this.groupId, this.epoch, this.memberId, null, [...topics].map(([name, partitions]) => ({ name, partitions })));
    } catch (error) {
      if (hasBrokerError(error, ...COORDINATOR_MOVING)) this.coordinator = undefined;
      throw asGroupRequestError(error, 'OffsetCommit');
    }
  }

  /** What the group committed for `topics`, by topic and partition. */
  async committed(topics: string[]): Promise<Map<string, Map<number, CommittedOffset>>> {
    this.coordinator ??= await connectToCoordinator(this.client, this.groupId);
    return fetchCommitted(this.client, this.coordinator, this.groupId, topics);
  }

  /**
   * Heartbeats now, again until the group answers: true when it still counts this member, false when it had
   * fenced or removed it (its partitions then are announced lost, and it joins again) or the member left.
   */
  async confirm(): Promise<boolean> {
    const fencings = this.fencings;
    for (;;) {
      if (this.stopped) return false;
      this.answered = false;
      this.beat();
      while (this.beating !== undefined) await this.beating;
      if (this.fencings !== fencings) return false;
      if (this.answered) return true;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  /** Heartbeats go one at a time; one asked for while another is out follows it. */
  private beat(): void {
    if (this.stopped) return;
    if (this.beating !== undefined) {
      this.beatAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.beating = this.heartbeat().finally(() => {
      this.beating = undefined;
      if (this.beatAgain) {
        this.beatAgain = false;
        this.beat();
      }
    });
  }

  private async heartbeat(): Promise<void> {
    try {
      this.coordinator ??= await connectToCoordinator(this.client, this.groupId);
      const response = await this.send(this.coordinator);
      if (!this.stopped) this.take(response);
    } catch (error) {
      if (!this.stopped) this.onHeartbeatError(error);
    }
  }

  private send(connection: Connection): ReturnType<typeof consumerGroupHeartbeatV1.api.async> {
    const leaving = this.epoch === LEAVING_EPOCH;
    const owned = leaving ? null : [...this.owned].map(([topicId, partitions]) => ({ topicId, partitions: [...partitions] }));
    return consumerGroupHeartbeatV1.api.async(
      connection, this.groupId, this.memberId, this.epoch, null, null, this.settings.rebalanceTimeout, leaving ? null : this.topics, null, this.settings.serverAssignor ?? null, owned,
    );
  }

  private take(response: Awaited<ReturnType<typeof consumerGroupHeartbeatV1.api.async>>): void {
    this.answered = true;
    this.epoch = response.memberEpoch;
    if (response.heartbeatIntervalMs > 0) this.intervalMs = response.heartbeatIntervalMs;
    if (response.assignment !== null) this.target = response.assignment.topicPartitions;
    this.timer = setTimeout(() => this.beat(), this.intervalMs);
    void this.reconcile();
  }

  private onHeartbeatError(error: unknown): void {
    if (hasBrokerError(error, 'FENCED_MEMBER_EPOCH', 'UNKNOWN_MEMBER_ID')) {
      // The group went on without this member (its session or rebalance timeout passed): what it owned is
      // others' now. It joins again with nothing.
      this.epoch = JOINING_EPOCH;
      this.target = undefined;
      this.fencings++;
      if (this.owned.size > 0) {
        this.owned.clear();
        void this.announce();
      }
      this.timer = setTimeout(() => this.beat(), RETRY_MS);
      return;
    }
    if (hasBrokerError(error, 'GROUP_AUTHORIZATION_FAILED', 'TOPIC_AUTHORIZATION_FAILED', 'UNSUPPORTED_VERSION', 'UNSUPPORTED_ASSIGNOR', 'INVALID_REQUEST', 'GROUP_MAX_SIZE_REACHED')) {
      this.stopped = true;
      this.listener.failed(error);
      return;
    }
    // The coordinator moved, is loading, or the connection broke: find it again and retry soon.
    this.coordinator = undefined;
    this.timer = setTimeout(() => this.beat(), Math.min(this.intervalMs, RETRY_MS));
  }

  /** Takes on the broker's assignments one after another: revocations first (awaited), then new partitions. */
  private async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    let taking: typeof this.target;
    try {
      while (this.target !== undefined && !this.stopped) {
        taking = this.target;
        this.target = undefined;
        const target = new Map(taking.map(({ topicId, partitions }) => [topicId, new Set(partitions)]));
        const revoked = difference(this.owned, target);
        const added = difference(target, this.owned);
        if (revoked.length > 0) {
          const fencings = this.fencings;
          await this.listener.revoke(await this.named(revoked));
          if (fencings !== this.fencings) continue; // everything was lost meanwhile; the next answer says anew
          for (const { topicId, partition } of revoked) {
            const partitions = this.owned.get(topicId);
            partitions?.delete(partition);
            if (partitions?.size === 0) this.owned.delete(topicId);
          }
        }
        for (const { topicId, partition } of added) {
          const partitions = this.owned.get(topicId) ?? new Set<number>();
          partitions.add(partition);
          this.owned.set(topicId, partitions);
        }
        if (revoked.length > 0 || added.length > 0) this.unannounced = true;
        if (this.unannounced) {
          await this.announce();
          // Tells the group at once what is owned now: freed partitions can go to their next owner.
          this.beat();
        }
        taking = undefined;
      }
    } catch {
      // Topic names could not be read (metadata failed): the same assignment is taken on again shortly.
      this.target ??= taking;
      if (!this.stopped) setTimeout(() => void this.reconcile(), RETRY_MS);
    } finally {
      this.reconciling = false;
    }
  }

  private async announce(): Promise<void> {
    const owned: Record<string, number[]> = {};
    for (const { topic, partition } of await this.named(flatten(this.owned))) (owned[topic] ??= []).push(partition);
    this.unannounced = false;
    if (!this.stopped) this.listener.assigned(owned, this.memberId);
  }

  /** Topic names for topic ids (the protocol speaks ids), from metadata when one is not known yet. */
  private async named(partitions: { topicId: string; partition: number }[]): Promise<TopicPartition[]> {
    if (partitions.some(({ topicId }) => !this.names.has(topicId))) {
      const metadata = await this.client.metadata({ topics: this.topics, forceUpdate: true });
      for (const [topic, { id }] of metadata.topics) this.names.set(id, topic);
    }
    return partitions.map(({ topicId, partition }) => {
      const topic = this.names.get(topicId);
      if (topic === undefined) throw new Error(`topic id ${topicId} is not one of ${this.topics.join(', ')}`);
      return { topic, partition };
    });
  }
}

function flatten(map: Map<string, Set<number>>): { topicId: string; partition: number }[] {
  const list: { topicId: string; partition: number }[] = [];
  for (const [topicId, partitions] of map) for (const partition of partitions) list.push({ topicId, partition });
  return list;
}

/** Partitions in `a` and not in `b`. */
function difference(a: Map<string, Set<number>>, b: Map<string, Set<number>>): { topicId: string; partition: number }[] {
  return flatten(a).filter(({ topicId, partition }) => b.get(topicId)?.has(partition) !== true);
}

/** A member's epoch when it joins, and when it leaves for good. */
const JOINING_EPOCH = 0;
const LEAVING_EPOCH = -1;
/** Until the broker says its heartbeat interval (its first answer does). */
const FIRST_INTERVAL_MS = 1_000;
/** Wait before a heartbeat after a failure. */
const RETRY_MS = 500;
/** Answers that say the group's coordinator is moving, loading or not elected yet: ask again. */
const COORDINATOR_MOVING = ['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS'];
/** How long a join keeps asking a coordinator that is not ready, and how it spaces the attempts. */
const JOIN_GIVE_UP_MS = 30_000;
const JOIN_RETRY = fullJitterBackoff({ initial: 100, max: 2_000 });
