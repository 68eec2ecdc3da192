/**
 * Identifies a pending timer on its wheel: a plain number, so scheduling through `wheel.schedule()` allocates
 * nothing. It stays valid while the timer is pending and is never reused for another timer in practice (see
 * `TimerWheel.schedule`).
 */
export type TimerId = number;

/** What a {@link Timer} asks of the wheel that made it (kept off the wheel's public surface). */
export interface TimerOwner {
  cancel(id: TimerId): boolean;
  refresh(id: TimerId): boolean;
  setRef(id: TimerId, ref: boolean): void;
  hasRef(id: TimerId): boolean;
  isPending(id: TimerId): boolean;
}

/**
 * A pending timer on a wheel, returned by `setTimeout` and `setInterval`: a two-field object (its wheel and its
 * {@link TimerId}); everything else lives in the wheel's typed arrays.
 *
 * @example
 * ```ts
 * const idle = wheel.setTimeout(() => socket.destroy(), 30_000);
 * socket.on('data', () => idle.refresh());
 * socket.on('close', () => idle.cancel());
 * ```
 */
export class Timer implements Disposable {
  /** Made by a wheel, not constructed directly. */
  constructor(
    private readonly owner: TimerOwner,
    /** The timer's id, also accepted by the wheel's `cancel`, `refresh` and `isPending`. */
    readonly id: TimerId,
  ) {}

  /** Stops the timer. Returns true if it was pending (false if it already fired or was cancelled). */
  cancel(): boolean {
    return this.owner.cancel(this.id);
  }

  /**
   * Restarts the timer with its original delay, counted from now, reusing its storage (also from inside its own
   * callback, to re-arm it). Returns false, and does nothing, when the timer already fired or was cancelled.
   */
  refresh(): boolean {
    return this.owner.refresh(this.id);
  }

  /** Lets this timer keep the process alive (the default). */
  ref(): this {
    this.owner.setRef(this.id, true);
    return this;
  }

  /** Lets the process exit while this timer is pending. */
  unref(): this {
    this.owner.setRef(this.id, false);
    return this;
  }

  /** Whether this timer is pending and keeps the process alive. */
  hasRef(): boolean {
    return this.owner.hasRef(this.id);
  }

  /** Whether the timer is still to fire (for an interval: until cancelled). */
  get pending(): boolean {
    return this.owner.isPending(this.id);
  }

  /** The id, as Node's `Timeout` converts to its id: `wheel.cancel(+timer)` works. */
  [Symbol.toPrimitive](): TimerId {
    return this.id;
  }

  /** Cancels the timer, for `using`. */
  [Symbol.dispose](): void {
    this.cancel();
  }
}
