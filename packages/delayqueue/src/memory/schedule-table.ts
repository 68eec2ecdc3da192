/**
 * The memory backend's schedules: each with its stored tick, stepped by compare-and-set on that tick. One
 * process, so every change is atomic by construction; the table only needs the backend's way to add a tick's job
 * and to drop one that still waits.
 */
import type { DueSchedules, NewJob, ScheduleStep, StepOutcome, StoredSchedule } from '../backend.js';
import { tickJobId } from '../backend.js';

/** What the table asks of its backend. */
export interface TickJobs {
  /** Stores a tick's job. */
  add(job: NewJob): void;
  /** Deletes the job if it is delayed or ready (a reserved or dead one stays); whether it did. */
  dropWaiting(id: string): boolean;
}

export class ScheduleTable {
  private readonly byName = new Map<string, StoredSchedule>();

  constructor(private readonly jobs: TickJobs) {}

  put(topic: string, name: string, definition: string, first: NewJob): void {
    this.remove(name);
    this.jobs.add(first);
    this.byName.set(name, { name, topic, definition, next: first.runAt! });
  }

  remove(name: string): boolean {
    const old = this.byName.get(name);
    if (old === undefined) return false;
    this.jobs.dropWaiting(tickJobId(name, old.next));
    this.byName.delete(name);
    return true;
  }

  get(name: string): StoredSchedule | undefined {
    return this.byName.get(name);
  }

  list(): StoredSchedule[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A walk over every schedule: the memory backend holds few, and the driver reads only when one falls due. */
  due(topic: string, now: number, limit: number): DueSchedules {
    const due: StoredSchedule[] = [];
    let nextAt: number | undefined;
    for (const schedule of this.byName.values()) {
      if (schedule.topic !== topic) continue;
      if (schedule.next <= now) due.push(schedule);
      else if (nextAt === undefined || schedule.next < nextAt) nextAt = schedule.next;
    }
    due.sort((a, b) => a.next - b.next);
    for (const later of due.splice(limit)) if (nextAt === undefined || later.next < nextAt) nextAt = later.next;
    return { now, due, nextAt, pollMs: undefined };
  }

  step(topic: string, steps: readonly ScheduleStep[]): StepOutcome[] {
    return steps.map((step) => {
      const schedule = this.byName.get(step.name);
      if (schedule === undefined || schedule.topic !== topic || schedule.next !== step.from) return 'lost';
      const dropped = step.dropFrom && this.jobs.dropWaiting(tickJobId(step.name, step.from));
      if (step.job === undefined) this.byName.delete(step.name);
      else {
        this.jobs.add(step.job);
        this.byName.set(step.name, { ...schedule, next: step.job.runAt! });
      }
      return dropped ? 'dropped' : 'stepped';
    });
  }
}
