/**
 * Writes new jobs: every add() of one event-loop turn (a hundred request handlers each adding one job, say)
 * travels together, one ADD script call per topic and 500 jobs, all calls in one pipeline. The script's fixed
 * cost (reading the clock, checking whether movers must wake) is then paid per call instead of per job.
 */
import type { NewJob } from '../backend.js';
import type { QueueKeys } from './keys.js';
import { encodeRecord } from './record.js';
import { type RedisClient, runScript, runScriptMany } from './script-runner.js';
import { ADD } from './scripts.js';
import type { ServerClock } from './server-clock.js';

const JOBS_PER_CALL = 500;

interface Request {
  readonly jobs: readonly NewJob[];
  /** Local epoch ms of the add() call: delays count from here, not from when the batch is written. */
  readonly calledAt: number;
  readonly created: boolean[];
  failed: unknown;
  remaining: number;
  resolve(created: boolean[]): void;
  reject(error: unknown): void;
}

interface Entry {
  readonly request: Request;
  readonly index: number;
  readonly due: number;
}

/** Told of each job that was added, with its due time and the batch's base time (both server clock). */
export type AddedListener = (topic: string, due: number, now: number) => void;

export class AddWriter {
  private pending: Request[] = [];
  private scheduled = false;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: QueueKeys,
    private readonly serverClock: ServerClock,
    private readonly onAdded: AddedListener,
  ) {}

  add(jobs: readonly NewJob[]): Promise<boolean[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, calledAt: Date.now(), created: new Array<boolean>(jobs.length).fill(false), failed: undefined, remaining: 0, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Resolves once everything handed to add() so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.scheduled || this.pending.length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  private async flush(): Promise<void> {
    const requests = this.pending;
    this.pending = [];
    this.scheduled = false;
    let offset: number;
    try {
      offset = await this.serverClock.offset();
    } catch (error) {
      for (const request of requests) request.reject(error);
      return;
    }
    const byTopic = new Map<string, Entry[]>();
    for (const request of requests) {
      request.jobs.forEach((job, index) => {
        let entries = byTopic.get(job.topic);
        if (!entries) byTopic.set(job.topic, (entries = []));
        entries.push({ request, index, due: Math.ceil(request.calledAt + offset + job.delay) });
      });
    }
    const calls: { topic: string; entries: Entry[]; keys: string[]; args: (string | number)[] }[] = [];
    for (const [topic, entries] of byTopic) {
      const t = this.keys.topic(topic);
      for (let i = 0; i < entries.length; i += JOBS_PER_CALL) {
        const chunk = entries.slice(i, i + JOBS_PER_CALL);
        const packed: string[] = [];
        for (const { request, index, due } of chunk) {
          const job = request.jobs[index]!;
          packed.push(`${job.id}\u001e${due}\u001e${this.keys.bucketIndex(job.id) + 1}\u001e${job.idGenerated ? 0 : 1}\u001e${encodeRecord(job)}`);
        }
        const args = [this.keys.wakeChannel, topic, packed.join('\u001d')];
        calls.push({ topic, entries: chunk, keys: [this.keys.jobs, this.keys.done, t.next, ...t.buckets], args });
      }
    }
    for (const call of calls) for (const { request } of call.entries) request.remaining++;
    const now = Date.now() + offset;
    const settle = (call: (typeof calls)[number], error: unknown, reply: unknown): void => {
      call.entries.forEach(({ request, index, due }, i) => {
        if (error) request.failed ??= error;
        else if ((reply as number[])[i] === 1) {
          request.created[index] = true;
          this.onAdded(call.topic, due, now);
        }
        if (--request.remaining === 0) {
          if (request.failed === undefined) request.resolve(request.created);
          else request.reject(request.failed);
        }
      });
    };
    if (calls.length === 1) {
      const call = calls[0]!;
      await runScript(this.client, ADD, call.keys, call.args).then(
        (reply) => settle(call, undefined, reply),
        (error: unknown) => settle(call, error, undefined),
      );
      return;
    }
    try {
      const replies = await runScriptMany(this.client, ADD, calls);
      calls.forEach((call, i) => settle(call, replies[i]![0], replies[i]![1]));
    } catch (error) {
      for (const call of calls) settle(call, error, undefined);
    }
  }
}
