/**
 * Writes the jobs published one at a time in the same event-loop turn together. The level mover releases every
 * record whose wait ends at the same moment in one timer turn, and each release is one publish: written one
 * request each, 1,000 jobs due at once queued 1,000 produce requests that the broker answered one after another
 * (the last ~700 ms after the first). Together they go as the few requests their bytes need.
 */
import type { JobMessage } from '../broker/job-message.js';
import { PartialWriteError } from '../errors.js';

interface Waiting {
  job: JobMessage;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class PublishBatcher {
  private waiting: Waiting[] = [];

  /** `write` stores jobs and rejects with PartialWriteError when it stored some of them only. */
  constructor(private readonly write: (jobs: readonly JobMessage[]) => Promise<void>) {}

  /** Resolves once the job was written (acknowledged), with the others of its turn. */
  publish(job: JobMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.waiting.push({ job, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    try {
      await this.write(batch.map((w) => w.job));
      for (const w of batch) w.resolve();
    } catch (error) {
      const written = new Set(error instanceof PartialWriteError ? error.written : []);
      const rest = batch.filter((w) => !written.has(w.job.id));
      for (const w of batch) if (written.has(w.job.id)) w.resolve();
      if (batch.length === 1) return rest.forEach((w) => w.reject(error));
      // Each of the rest on its own: a job the broker refuses must fail alone, not every job of its turn, again
      // at each retry.
      await Promise.all(rest.map((w) => this.write([w.job]).then(w.resolve, w.reject)));
    }
  }
}
