/**
 * Runs tasks with at most `maxConcurrency` at once, in lanes: tasks of one lane run one after another in the
 * order they were pushed, lanes run side by side. A lane is a record key (ordering 'key'), a partition
 * ('partition') or the record itself ('unordered'). Ready lanes take turns, so a key with many records cannot
 * starve the others; a slow task holds back only its own lane.
 */

/** What running a task came to. */
export type Outcome = { readonly kind: 'done' } | { readonly kind: 'retry'; readonly afterMs: number };

/** The outcome of every task that finished (shared: one allocation less per record). */
export const DONE: Outcome = Object.freeze({ kind: 'done' });

export interface Task {
  readonly lane: string;
  /** Run alone even when units may hold several tasks (after its batch failed). */
  solo?: boolean;
}

interface Lane<T> {
  readonly name: string;
  tasks: T[];
  head: number;
  running: boolean;
}

export class Scheduler<T extends Task> {
  private readonly lanes = new Map<string, Lane<T>>();
  private ready: Lane<T>[] = [];
  private readyHead = 0;
  private running = 0;
  private paused = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    /** Units (handler calls) running at once. */
    private readonly maxConcurrency: number,
    /** Runs a unit: the heads of up to `unitSize` distinct lanes; one outcome per task, in order. */
    private readonly run: (tasks: T[]) => Promise<Outcome[]>,
    /** Called after each unit finished or was dropped (capacity may have freed). */
    private readonly onSettled: () => void,
    private readonly unitSize = 1,
  ) {}

  /** Units running now. */
  get inFlight(): number {
    return this.running;
  }

  push(task: T): void {
    const lane = this.lanes.get(task.lane);
    if (lane) {
      lane.tasks.push(task);
      return;
    }
    const fresh: Lane<T> = { name: task.lane, tasks: [task], head: 0, running: false };
    this.lanes.set(task.lane, fresh);
    this.ready.push(fresh);
    this.pump();
  }

  /** Stops starting tasks (running ones go on). */
  pause(): void {
    this.paused = true;
  }

  /** Removes every waiting task for which `drop` is true (a lane's running task, if any, finishes alone). */
  dropWhere(drop: (task: T) => boolean): number {
    let dropped = 0;
    for (const lane of this.lanes.values()) {
      const start = lane.running ? lane.head + 1 : lane.head;
      const keep = lane.tasks.slice(lane.head, start).concat(lane.tasks.slice(start).filter((task) => !drop(task)));
      dropped += lane.tasks.length - lane.head - keep.length;
      lane.tasks = keep;
      lane.head = 0;
      if (keep.length === 0) this.lanes.delete(lane.name);
    }
    return dropped;
  }

  /** Cancels pending retry timers (on close). */
  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private pump(): void {
    while (!this.paused && this.running < this.maxConcurrency && this.readyHead < this.ready.length) {
      const unit: T[] = [];
      const lanes: Lane<T>[] = [];
      while (unit.length < this.unitSize && this.readyHead < this.ready.length) {
        const lane = this.ready[this.readyHead++]!;
        const task = lane.tasks[lane.head];
        // A lane emptied by dropWhere, or replaced since it was queued: nothing to run.
        if (task === undefined || this.lanes.get(lane.name) !== lane) continue;
        if (task.solo && unit.length > 0) {
          // Runs alone: leave it first in line for the next unit.
          this.ready[--this.readyHead] = lane;
          break;
        }
        unit.push(task);
        lanes.push(lane);
        lane.running = true;
        if (task.solo) break;
      }
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
      if (unit.length === 0) continue;
      this.running++;
      void this.run(unit).then(
        (outcomes) => this.settleUnit(lanes, unit, outcomes),
        () => this.settleUnit(lanes, unit, unit.map(() => DONE)),
      );
    }
  }

  private settleUnit(lanes: Lane<T>[], unit: T[], outcomes: Outcome[]): void {
    this.running--;
    unit.forEach((task, i) => this.settle(lanes[i]!, task, outcomes[i] ?? DONE));
    this.pump();
    this.onSettled();
  }

  private settle(lane: Lane<T>, task: T, outcome: Outcome): void {
    lane.running = false;
    const current = this.lanes.get(lane.name) === lane && lane.tasks[lane.head] === task;
    if (current && outcome.kind === 'retry') {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.lanes.get(lane.name) === lane && lane.tasks[lane.head] === task) this.ready.push(lane);
        this.pump();
      }, outcome.afterMs);
      this.timers.add(timer);
    } else if (current) {
      lane.tasks[lane.head++] = undefined as unknown as T;
      if (lane.head === lane.tasks.length) this.lanes.delete(lane.name);
      else {
        if (lane.head > 64 && lane.head * 2 > lane.tasks.length) {
          lane.tasks = lane.tasks.slice(lane.head);
          lane.head = 0;
        }
        this.ready.push(lane);
      }
    }
  }
}
