/**
 * Recurring jobs in Redis (see schedule-scripts.ts for the layout). Putting and removing first read where the
 * schedule stands (its topic and tick name the keys the script needs), then run the script, which refuses if the
 * schedule moved meanwhile: then they read again. Each refusal means another worker stepped or replaced it, which
 * happens at most once per tick, so the loop ends.
 */
import { type DueSchedules, type NewJob, type ScheduleStep, type StepOutcome, type StoredSchedule, tickJobId } from '../backend.js';
import { randomToken } from '@x/core';
import { CorruptJobError } from '../errors.js';
import type { QueueKeys } from './keys.js';
import { encodeRecord } from './record.js';
import { type RedisClient, runScript } from './script-runner.js';
import { SCHEDULE_DUE, SCHEDULE_PUT, SCHEDULE_REMOVE, SCHEDULE_STEP } from './schedule-scripts.js';

/** Definitions kept per name; beyond this many the cache starts over (it is refilled by one read per schedule). */
const MAX_CACHED = 100_000;

export class RedisSchedules {
  /** Definitions this process has read, by name, with the version they were put with. */
  private readonly definitions = new Map<string, { version: string; definition: string }>();

  constructor(
    private readonly client: RedisClient,
    private readonly keys: QueueKeys,
    private readonly pollMs: number,
  ) {}

  async put(topic: string, name: string, definition: string, first: NewJob): Promise<void> {
    const k = this.keys;
    const t = k.topic(topic);
    const tick = first.runAt!;
    for (;;) {
      const old = await this.read(name);
      const o = k.topic(old?.topic ?? topic);
      const oldId = old === undefined ? '' : tickJobId(name, old.next);
      const keys = [k.schedules, k.jobs, k.done, k.attempts, k.errors, k.readyAt, k.topics, t.schedules, t.next, k.bucket(t, first.id), o.schedules, o.ready, k.bucket(o, oldId)];
      const args = [name, topic, `${randomToken(8, 'base64url')}\u001f${definition}`, k.wakeChannel, first.id, tick, encodeRecord(first), old?.topic ?? '', old?.next ?? 0, oldId];
      // The script wakes the topic's movers (in every process, this one too) if the tick is earlier than they plan.
      if ((await runScript(this.client, SCHEDULE_PUT, keys, args)) === 1) return;
    }
  }

  async remove(name: string): Promise<boolean> {
    const k = this.keys;
    for (;;) {
      const old = await this.read(name);
      if (old === undefined) return false;
      const t = k.topic(old.topic);
      const id = tickJobId(name, old.next);
      const keys = [k.schedules, k.jobs, k.attempts, k.errors, k.readyAt, t.schedules, t.ready, k.bucket(t, id)];
      const result = await runScript(this.client, SCHEDULE_REMOVE, keys, [name, old.topic, old.next, id]);
      if (result !== -1) return result === 1;
    }
  }

  /** Every schedule: the hash in one read, then each topic's ticks in one read per topic. */
  async list(): Promise<StoredSchedule[]> {
    const stored = Object.entries(await this.client.hgetall(this.keys.schedules)).map(([name, value]) => {
      const { topic, definition } = split(value);
      return { name, topic, definition };
    });
    const byTopic = new Map<string, typeof stored>();
    for (const schedule of stored) {
      let group = byTopic.get(schedule.topic);
      if (group === undefined) byTopic.set(schedule.topic, (group = []));
      group.push(schedule);
    }
    const out: StoredSchedule[] = [];
    await Promise.all(
      [...byTopic].map(async ([topic, group]) => {
        const ticks = await this.client.zmscore(this.keys.topic(topic).schedules, ...group.map((s) => s.name));
        // A schedule removed between the two reads has no tick any more: it is gone.
        group.forEach((schedule, i) => ticks[i] !== null && ticks[i] !== undefined && out.push({ ...schedule, next: Number(ticks[i]) }));
      }),
    );
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async due(topic: string, limit: number): Promise<DueSchedules> {
    const t = this.keys.topic(topic);
    const reply = (await runScript(this.client, SCHEDULE_DUE, [this.keys.schedules, t.schedules], [limit])) as (string | number)[];
    const found: { name: string; next: number; version: string }[] = [];
    for (let i = 2; i < reply.length; i += 3) found.push({ name: String(reply[i]), next: Number(reply[i + 1]), version: String(reply[i + 2]) });
    const unknown = found.filter(({ name, version }) => this.definitions.get(name)?.version !== version).map(({ name }) => name);
    if (unknown.length > 0) {
      if (this.definitions.size + unknown.length > MAX_CACHED) this.definitions.clear();
      const values = await this.client.hmget(this.keys.schedules, ...unknown);
      unknown.forEach((name, i) => {
        const value = values[i];
        if (value === null || value === undefined) this.definitions.delete(name);
        else this.definitions.set(name, split(value));
      });
    }
    const due: StoredSchedule[] = [];
    for (const { name, next } of found) {
      // Removed between the two reads: nothing to step. Replaced: its tick moved too, and the step will say so.
      const known = this.definitions.get(name);
      if (known !== undefined) due.push({ name, topic, definition: known.definition, next });
    }
    const later = Number(reply[1]);
    return { now: Number(reply[0]), due, nextAt: later < 0 ? undefined : later, pollMs: this.pollMs };
  }

  /** The schedule of that name (undefined when it went between the two reads). */
  async get(name: string): Promise<StoredSchedule | undefined> {
    const read = await this.read(name);
    return read === undefined || read.next < 0 ? undefined : { name, ...read };
  }

  async step(topic: string, steps: readonly ScheduleStep[]): Promise<StepOutcome[]> {
    const k = this.keys;
    const t = k.topic(topic);
    const packed = steps.map((step) => {
      const fromId = tickJobId(step.name, step.from);
      const job = step.job;
      const next = job === undefined ? ['', 0, 1, ''] : [job.id, job.runAt!, k.bucketIndex(job.id) + 1, encodeRecord(job)];
      return [step.name, step.from, step.dropFrom ? 1 : 0, k.bucketIndex(fromId) + 1, fromId, ...next].join('\u001e');
    });
    const keys = [k.schedules, k.jobs, k.done, k.attempts, k.errors, k.readyAt, t.ready, t.next, t.schedules, ...t.buckets];
    const reply = (await runScript(this.client, SCHEDULE_STEP, keys, [k.wakeChannel, topic, packed.join('\u001d')])) as number[];
    return steps.map((_, i) => (reply[i] === 2 ? 'dropped' : reply[i] === 1 ? 'stepped' : 'lost'));
  }

  /**
   * The schedule's definition, then its tick: undefined when there is none, a tick of -1 when it was removed or
   * moved to another topic between the two reads (a script given that refuses, and the caller reads again).
   */
  private async read(name: string): Promise<{ topic: string; definition: string; next: number } | undefined> {
    const value = await this.client.hget(this.keys.schedules, name);
    if (value === null) return undefined;
    const { topic, definition } = split(value);
    const next = await this.client.zscore(this.keys.topic(topic).schedules, name);
    return { topic, definition, next: next === null ? -1 : Number(next) };
  }
}

/** A schedules-hash value: `topic US version US definition`. */
function split(value: string): { topic: string; version: string; definition: string } {
  const first = value.indexOf('\u001f');
  const second = first < 0 ? -1 : value.indexOf('\u001f', first + 1);
  if (second < 0) throw new CorruptJobError(`corrupt schedule: ${JSON.stringify(value.slice(0, 80))}`);
  return { topic: value.slice(0, first), version: value.slice(first + 1, second), definition: value.slice(second + 1) };
}
