/**
 * Writes new jobs: every add() of one event-loop turn (a hundred request handlers each adding one job, say)
 * travels together, one ADD script call per topic and 500 jobs or 512 KiB, all calls in one pipeline. The
 * script's fixed cost (reading the clock, checking whether movers must wake) is then paid per call instead of
 * per job.
 */
import type { NewJob } from '../backend.js';
import type { QueueKeys } from './keys.js';
import { encodeRecord } from './record.js';
import { type RedisClient, runScript, runScriptMany } from './script-runner.js';
import { ADD } from './scripts.js';
import type { ServerClock } from './server-clock.js';

const JOBS_PER_CALL = 500;
/**
 * Most bytes of jobs packed into one call (a job bigger than this goes alone). One call's jobs travel as one
 * Redis bulk string, and Redis drops the connection, with every command on it, when a bulk is longer than its
 * `proto-max-bulk-len` (512 MB by default, 1 MB at the least): half the least keeps any server safe, and keeps a
 * turn of many large adds from building one string past V8's limit.
 */
const BYTES_PER_CALL = 512 * 1024;

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
    try {
      await this.write(requests);
    } catch (error) {
      // Nothing in write() is expected to throw, but an add must never wait forever or reject unhandled.
      // Rejecting a settled promise is a no-op, so only the adds still open take the error.
      for (const request of requests) request.reject(error);
    }
  }

  private async write(requests: Request[]): Promise<void> {
    const offset = await this.serverClock.offset();
    const byTopic = new Map<string, Entry[]>();
    for (const request of requests) {
      request.jobs.forEach((job, index) => {
        let entries = byTopic.get(job.topic);
        if (!entries) byTopic.set(job.topic, (entries = []));
        entries.push({ request, index, due: Math.ceil((job.runAt ?? request.calledAt + job.delay) + offset) });
      });
    }
    const calls: { topic: string; entries: Entry[]; keys: string[]; args: (string | number)[] }[] = [];
    for (const [topic, entries] of byTopic) {
      const t = this.keys.topic(topic);
      const keys = [this.keys.jobs, this.keys.done, t.next, this.keys.topics, ...t.buckets];
      let chunk: Entry[] = [];
      let packed: string[] = [];
      let bytes = 0;
      const endCall = (): void => {
        calls.push({ topic, entries: chunk, keys, args: [this.keys.wakeChannel, topic, packed.join('\u001d')] });
        chunk = [];
        packed = [];
        bytes = 0;
      };
      for (const entry of entries) {
        const job = entry.request.jobs[entry.index]!;
        const text = `${job.id}\u001e${entry.due}\u001e${this.keys.bucketIndex(job.id) + 1}\u001e${job.idGenerated ? 0 : 1}\u001e${encodeRecord(job)}`;
        const size = Buffer.byteLength(text) + 1;
        if (chunk.length > 0 && (chunk.length === JOBS_PER_CALL || bytes + size > BYTES_PER_CALL)) endCall();
        chunk.push(entry);
        packed.push(text);
        bytes += size;
      }
      if (chunk.length > 0) endCall();
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
