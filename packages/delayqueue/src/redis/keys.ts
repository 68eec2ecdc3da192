/**
 * Key names of one queue. Every key starts with the hash tag `{name}`, so all keys of a queue live in one Redis
 * Cluster slot and every script can touch all of them.
 */

export class QueueKeys {
  /** id -> record (see record.ts): the job pool. */
  readonly jobs: string;
  /** id -> deliveries so far; only for jobs delivered at least once. */
  readonly attempts: string;
  /** id -> last failure message; only for failed jobs. */
  readonly errors: string;
  /** id -> due time; only while a job is ready (for lateness and the ready state). */
  readonly readyAt: string;
  /** Sorted set of finished ids by finishing time, trimmed to keepDone: keeps `add` idempotent after the end. */
  readonly done: string;
  /** Pub/sub channel on which scripts name a topic whose movers should look now. */
  readonly wakeChannel: string;
  /** Set of every topic jobs were added to, for counts() without a topic. */
  readonly topics: string;
  /** Set of paused topics: the reserve script hands out nothing of them, the mover wakes no consumer for them. */
  readonly paused: string;
  /** topic -> "rate max:interval ms:concurrency" (0: none), read by the reserve script. */
  readonly limits: string;
  /** schedule name -> "topic US definition": every recurring job of the queue. */
  readonly schedules: string;
  /** SCAN pattern matching the queue's prefix literally (glob characters escaped). */
  readonly prefixPattern: string;
  private readonly prefix: string;
  private readonly topicCache = new Map<string, TopicKeys>();

  constructor(name: string, private readonly buckets: number) {
    this.prefix = `{${name}}`;
    this.jobs = `${this.prefix}:jobs`;
    this.attempts = `${this.prefix}:attempts`;
    this.errors = `${this.prefix}:errors`;
    this.readyAt = `${this.prefix}:ready-at`;
    this.done = `${this.prefix}:done`;
    this.wakeChannel = `${this.prefix}:wake`;
    this.topics = `${this.prefix}:topics`;
    this.paused = `${this.prefix}:paused`;
    this.limits = `${this.prefix}:limits`;
    this.schedules = `${this.prefix}:schedules`;
    this.prefixPattern = this.prefix.replace(/[*?[\]\\]/g, '\\$&');
  }

  topic(topic: string): TopicKeys {
    let keys = this.topicCache.get(topic);
    if (!keys) {
      const base = `${this.prefix}:t:${topic}`;
      keys = {
        buckets: Array.from({ length: this.buckets }, (_, i) => `${base}:delayed:${i}`),
        ready: `${base}:ready`,
        reserved: `${base}:reserved`,
        dead: `${base}:dead`,
        next: `${base}:next`,
        signal: `${base}:signal`,
        rate: `${base}:rate`,
        schedules: `${base}:schedules`,
      };
      // Bounded: a process touches few topics, but ids passing through get()/cancel() could name many.
      if (this.topicCache.size >= 1024) this.topicCache.clear();
      this.topicCache.set(topic, keys);
    }
    return keys;
  }

  /** The delayed bucket of a job: a stable hash of its id, so cancel and reschedule find it without a lookup. */
  bucket(topic: TopicKeys, id: string): string {
    return topic.buckets[this.bucketIndex(id)]!;
  }

  /** Index (0-based) of the job's bucket among its topic's. */
  bucketIndex(id: string): number {
    if (this.buckets === 1) return 0;
    // FNV-1a over UTF-16 units: cheap, stable across processes and versions.
    let hash = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
    return (hash >>> 0) % this.buckets;
  }
}

/** Keys of one topic of a queue. */
export interface TopicKeys {
  /** Sorted sets of delayed ids scored by due time (epoch ms, Redis clock). */
  readonly buckets: readonly string[];
  /** List of ready ids: pushed on the left in due order, taken from the right. */
  readonly ready: string;
  /** Sorted set of reserved ids scored by the end of their delivery's ttr. */
  readonly reserved: string;
  /** Sorted set of dead ids scored by time of death. */
  readonly dead: string;
  /** The earliest due time or deadline a mover has planned for; anything earlier publishes a wake-up. */
  readonly next: string;
  /** "Jobs may be ready" tokens for consumers (a few at most). */
  readonly signal: string;
  /** Sorted set of the deliveries of the last rate interval (id US attempt, by reservation time); only under a rate limit. */
  readonly rate: string;
  /** Sorted set of the topic's schedule names, scored by the tick whose job is stored now. */
  readonly schedules: string;
}
