/**
 * Runs tasks with at most `maxConcurrency` at once, in lanes: tasks of one lane run one after another in the
 * order they were pushed, lanes run side by side. A lane is a record key (ordering 'key'), a partition
 * ('partition') or the record itself ('unordered'). Ready lanes take turns, so a key with many records cannot
 * starve the others; a slow task holds back only its own lane.
 */

/** What running a task came to. */
export type Outcome = { kind: 'done' } | { kind: 'retry'; afterMs: number };

export interface Task {
  readonly lane: string;
}

export class Scheduler<T extends Task> {
  private readonly lanes = new Map<string, T[]>();
  private ready: string[] = [];
  private readyHead = 0;
  private running = 0;
  private paused = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly maxConcurrency: number,
    private readonly run: (task: T) => Promise<Outcome>,
    /** Called after each task finished or was dropped (capacity may have freed). */
    private readonly onSettled: () => void,
  ) {}

  /** Tasks running now. */
  get inFlight(): number {
    return this.running;
  }

  push(task: T): void {
    const lane = this.lanes.get(task.lane);
    if (lane) {
      lane.push(task);
      return;
    }
    this.lanes.set(task.lane, [task]);
    this.ready.push(task.lane);
    this.pump();
  }

  /** Stops starting tasks (running ones go on). */
  pause(): void {
    this.paused = true;
  }

  /** Removes every waiting task for which `drop` is true (their lanes' running task, if any, finishes alone). */
  dropWhere(drop: (task: T) => boolean): number {
    let dropped = 0;
    for (const [name, lane] of this.lanes) {
      // A lane's head may be running: keep it, it removes itself when it settles.
      const keep = lane.filter((task, i) => (i === 0 && this.isRunningHead(name)) || !drop(task));
      dropped += lane.length - keep.length;
      if (keep.length === 0) this.lanes.delete(name);
      else this.lanes.set(name, keep);
    }
    return dropped;
  }

  /** Cancels pending retry timers (on close). */
  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private readonly runningHeads = new Set<string>();

  private isRunningHead(lane: string): boolean {
    return this.runningHeads.has(lane);
  }

  private pump(): void {
    while (!this.paused && this.running < this.maxConcurrency && this.readyHead < this.ready.length) {
      const name = this.ready[this.readyHead++]!;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready = this.ready.slice(this.readyHead);
        this.readyHead = 0;
      }
      const task = this.lanes.get(name)?.[0];
      if (!task) continue;
      this.running++;
      this.runningHeads.add(name);
      void this.run(task).then(
        (outcome) => this.settle(name, task, outcome),
        () => this.settle(name, task, { kind: 'done' }),
      );
    }
  }

  private settle(name: string, task: T, outcome: Outcome): void {
    this.running--;
    this.runningHeads.delete(name);
    const lane = this.lanes.get(name);
    if (outcome.kind === 'retry' && lane?.[0] === task) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.lanes.get(name)?.[0] === task) this.ready.push(name);
        this.pump();
      }, outcome.afterMs);
      this.timers.add(timer);
    } else if (lane) {
      if (lane[0] === task) lane.shift();
      if (lane.length === 0) this.lanes.delete(name);
      else this.ready.push(name);
    }
    this.pump();
    this.onSettled();
  }
}
