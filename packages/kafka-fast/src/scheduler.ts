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
  /** Run alone even when units may hold several tasks (after its batch failed). */
  solo?: boolean;
}

/**
 * Runs tasks for the scheduler. A task of its own is run in two steps, so that the scheduler can await the
 * work itself: `invoke` starts it and returns what the work returned (a promise for async work), then
 * `succeeded` or `failed` says what it came to. This costs no promise or closure per task beyond the work's
 * own, which at hundreds of thousands of tasks a second is a measurable share of the CPU.
 */
export interface TaskRunner<T> {
  /** Starts one task; returns the work's result (awaited) or throws. */
  invoke(task: T): unknown;
  /** The outcome of a task whose work completed. */
  succeeded(task: T): Outcome;
  /** The outcome of a task whose work threw or rejected. */
  failed(task: T, error: unknown): Outcome | Promise<Outcome>;
  /** Runs several tasks (of distinct lanes) in one call; one outcome per task, in order. */
  many(tasks: T[]): Promise<readonly Outcome[]>;
}

interface Lane<T> {
  readonly group: LaneGroup;
  readonly name: string;
  tasks: T[];
  head: number;
  running: boolean;
  /** In its group's map: false once emptied or dropped (a lane of the same name may be made anew). */
  live: boolean;
}

/**
 * A namespace of lanes: lane names are unique within a group. The consumer keeps one per partition
 * assignment, so a record's lane is found by its key alone (no string built per record) and a revoked
 * partition's lanes are dropped together.
 */
export class LaneGroup {
  /** Live lanes by name (a lane leaves when it has nothing left to run). */
  readonly lanes = new Map<string, Lane<Task>>();
}

export class Scheduler<T extends Task> {
  /** Lanes waiting for a slot, in turn order (from readyHead on). */
  private ready: Lane<T>[] = [];
  private readyHead = 0;
  private running = 0;
  private paused = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    /** Slots: lanes (or units of several lanes) running at once. */
    private readonly maxConcurrency: number,
    private readonly runner: TaskRunner<T>,
    /** Called after each task or unit finished or was dropped (capacity may have freed). */
    private readonly onSettled: () => void,
    /** Tasks per handler call: 1 runs lanes one task at a time; more forms units of distinct lanes. */
    private readonly unitSize = 1,
  ) {}

  /** Slots in use now (handler calls running, or about to run their lane's next task). */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Queues `task` at the end of lane `name` of `group`. The name is not kept on the task: waiting tasks are
   * what stays alive longest, and the fewer objects each holds the less every young-generation GC copies.
   */
  push(task: T, group: LaneGroup, name: string): void {
    const lanes = group.lanes as Map<string, Lane<T>>;
    const lane = lanes.get(name);
    if (lane) {
      lane.tasks.push(task);
      return;
    }
    const fresh: Lane<T> = { group, name, tasks: [task], head: 0, running: false, live: true };
    lanes.set(name, fresh);
    this.ready.push(fresh);
    this.pump();
  }

  /** Stops starting tasks (running ones go on). */
  pause(): void {
    this.paused = true;
  }

  /** Starts tasks again after pause(). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  /** Removes every waiting task of `group` (a lane's running task, if any, finishes alone). */
  dropGroup(group: LaneGroup): number {
    let dropped = 0;
    for (const lane of group.lanes.values()) {
      const keep = lane.running ? lane.tasks.slice(lane.head, lane.head + 1) : [];
      dropped += lane.tasks.length - lane.head - keep.length;
      lane.tasks = keep;
      lane.head = 0;
      if (keep.length === 0) this.removeLane(lane);
    }
    return dropped;
  }

  /** Lanes of `group` whose task is running now. */
  runningIn(group: LaneGroup): number {
    let running = 0;
    for (const lane of group.lanes.values()) if (lane.running) running++;
    return running;
  }

  /** Cancels pending retry timers (on close). */
  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private pump(): void {
    while (!this.paused && this.running < this.maxConcurrency && this.readyHead < this.ready.length) {
      if (this.unitSize === 1) {
        const lane = this.nextReady();
        if (lane === undefined) break;
        this.running++;
        void this.work(lane);
      } else {
        this.startUnit();
        this.compactReady();
      }
    }
  }

  /** The next lane in line that has a task to run, taken out of the line. */
  private nextReady(): Lane<T> | undefined {
    while (this.readyHead < this.ready.length) {
      const lane = this.ready[this.readyHead++]!;
      this.compactReady();
      if (this.headOf(lane) !== undefined) return lane;
    }
    return undefined;
  }

  private compactReady(): void {
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  /** A lane emptied by dropGroup, or replaced since it was queued, has nothing to run. */
  private headOf(lane: Lane<T>): T | undefined {
    const task = lane.tasks[lane.head];
    return task !== undefined && this.isLive(lane) ? task : undefined;
  }

  private isLive(lane: Lane<T>): boolean {
    return lane.live;
  }

  private removeLane(lane: Lane<Task>): void {
    lane.live = false;
    lane.group.lanes.delete(lane.name);
  }

  /**
   * One slot: runs `first`'s tasks back to back while no other lane waits for a slot; when one does, the lane
   * goes to the back of the line after its current task and the slot goes on with the lane at the front (turns
   * stay fair). The slot leaves only when no lane waits: one async call per busy period of a slot, not per
   * task or per turn, which at hundreds of thousands of records a second is a measurable share of the garbage.
   */
  private async work(first: Lane<T>): Promise<void> {
    let lane: Lane<T> | undefined = first;
    try {
      while (lane !== undefined && !this.paused) {
        const task = this.headOf(lane);
        if (task === undefined) {
          lane = this.nextReady();
          continue;
        }
        lane.running = true;
        // runOne() written out: one async call less per task.
        let outcome: Outcome;
        try {
          await this.runner.invoke(task);
          outcome = this.runner.succeeded(task);
        } catch (error) {
          outcome = await this.runner.failed(task, error);
        }
        const more = this.advance(lane, task, outcome);
        this.onSettled();
        if (more && this.readyHead === this.ready.length) continue;
        if (more) this.ready.push(lane);
        lane = this.nextReady();
      }
      // Paused: the lane this slot was about to go on with waits in line for resume().
      if (lane !== undefined && this.headOf(lane) !== undefined) this.ready.push(lane);
    } catch {
      // Only a runner bug gets here (failed() must not throw); the lane stays as it is rather than lose tasks.
      if (lane !== undefined) lane.running = false;
    } finally {
      this.running--;
      this.pump();
    }
  }

  /** One task through the runner's two steps. Rejects only if the runner's failed() throws. */
  private async runOne(task: T): Promise<Outcome> {
    try {
      await this.runner.invoke(task);
      return this.runner.succeeded(task);
    } catch (error) {
      return this.runner.failed(task, error);
    }
  }

  private startUnit(): void {
    const unit: T[] = [];
    const lanes: Lane<T>[] = [];
    while (unit.length < this.unitSize && this.readyHead < this.ready.length) {
      const lane = this.ready[this.readyHead++]!;
      const task = this.headOf(lane);
      if (task === undefined) continue;
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
    if (unit.length === 0) return;
    this.running++;
    const settle = (outcomes: readonly Outcome[]): void => {
      this.running--;
      for (let i = 0; i < unit.length; i++) {
        if (this.advance(lanes[i]!, unit[i]!, outcomes[i] ?? DONE)) this.ready.push(lanes[i]!);
      }
      this.pump();
      this.onSettled();
    };
    // A unit of one (a lone ready lane, or a solo task after its batch failed) runs as a task of its own, with
    // its own attempts.
    const outcomes = unit.length === 1 ? this.runOne(unit[0]!).then((outcome) => [outcome]) : this.runner.many(unit);
    outcomes.then(settle, () => settle([]));
  }

  /**
   * Applies a task's outcome to its lane: done moves the lane on, retry schedules the lane's return. True when
   * the lane has a next task to run now.
   */
  private advance(lane: Lane<T>, task: T, outcome: Outcome): boolean {
    lane.running = false;
    // The lane was dropped or replaced (a revoked partition) while the task ran: nothing of it is ours now.
    if (!this.isLive(lane) || lane.tasks[lane.head] !== task) return false;
    if (outcome.kind === 'retry') {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.isLive(lane) && lane.tasks[lane.head] === task) this.ready.push(lane);
        this.pump();
      }, outcome.afterMs);
      this.timers.add(timer);
      return false;
    }
    lane.tasks[lane.head++] = undefined as unknown as T;
    if (lane.head === lane.tasks.length) {
      this.removeLane(lane);
      return false;
    }
    if (lane.head > 64 && lane.head * 2 > lane.tasks.length) {
      lane.tasks = lane.tasks.slice(lane.head);
      lane.head = 0;
    }
    return true;
  }
}
