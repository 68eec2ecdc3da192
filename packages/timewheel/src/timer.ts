/** What a {@link Timer} asks of the wheel that made it (kept off the wheel's public surface). */
export interface TimerOwner {
  cancel(timer: Timer): boolean;
  refresh(timer: Timer): boolean;
  setRef(timer: Timer, ref: boolean): void;
  hasRef(timer: Timer): boolean;
  isPending(timer: Timer): boolean;
}

/**
 * A pending timer on a wheel, returned by `setTimeout` and `setInterval`. Holds two fields (its wheel and its
 * slot), so a million of them stay small.
 *
 * @example
 * ```ts
 * const idle = wheel.setTimeout(() => socket.destroy(), 30_000);
 * socket.on('data', () => idle.refresh());
 * socket.on('close', () => idle.cancel());
 * ```
 */
export class Timer implements Disposable {
  /** @internal Made by a wheel; not constructed directly. */
  constructor(
    private readonly owner: TimerOwner,
    /** @internal The timer's storage slot; changes when the wheel moves it. */
    public slot: number,
  ) {}

  /** Stops the timer. Returns true if it was pending (false if it already fired or was cancelled). */
  cancel(): boolean {
    return this.owner.cancel(this);
  }

  /**
   * Restarts the timer with its original delay, counted from now, reusing its storage (also from inside its own
   * callback, to re-arm it). Returns false, and does nothing, when the timer already fired or was cancelled.
   */
  refresh(): boolean {
    return this.owner.refresh(this);
  }

  /** Lets this timer keep the process alive (the default). */
  ref(): this {
    this.owner.setRef(this, true);
    return this;
  }

  /** Lets the process exit while this timer is pending. */
  unref(): this {
    this.owner.setRef(this, false);
    return this;
  }

  /** Whether this timer is pending and keeps the process alive. */
  hasRef(): boolean {
    return this.owner.hasRef(this);
  }

  /** Whether the timer is still to fire (for an interval: until cancelled). */
  get pending(): boolean {
    return this.owner.isPending(this);
  }

  /** Cancels the timer, for `using`. */
  [Symbol.dispose](): void {
    this.cancel();
  }
}
