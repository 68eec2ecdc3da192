/** A lock held on a majority of instances, returned by `Redlock.acquire`. */
import type { InstanceFailure } from './errors.js';

/** What `release()` found. Releasing a lock that already expired is not an error; this says so. */
export interface ReleaseResult {
  /** Instances on which our keys were still present and were deleted. */
  deleted: number;
  /** True when the lock had still been held (deleted on a majority). */
  released: boolean;
  /** True when the lock's validity had already run out before `release()` was called. */
  expired: boolean;
  /**
   * When `released` is false: the instances that could not be asked or did not answer in time (`unavailable`,
   * `timeout`, `error`, ...), with why (on a lock that had not expired, this is why it was not released). An
   * instance that answered but no longer held our key is not one of them. Empty when `released`.
   */
  failures: readonly InstanceFailure[];
}

/** The operations a lock needs from its Redlock (kept off the public surface). */
export interface LockOwner {
  extend(lock: Lock, ttl: number): Promise<void>;
  release(lock: Lock): Promise<ReleaseResult>;
  now(): number;
}

export class Lock implements AsyncDisposable {
  /** The first release's outcome: every later `release()` answers with it. */
  private releasing: Promise<ReleaseResult> | undefined;

  /** Made by Redlock, not constructed directly. */
  constructor(
    private readonly owner: LockOwner,
    /** The locked resources (Redis keys). */
    readonly resources: readonly string[],
    /** The random 128-bit value that proves ownership in Redis. */
    readonly value: string,
    /**
     * Per resource, a number that grew with every acquisition of that resource (see README: fencing tokens).
     * Empty when fencing is off.
     */
    readonly fencingTokens: readonly number[],
    /** Monotonic clock time (the Redlock's clock) until which the lock is valid, drift already deducted. */
    public validUntil: number,
  ) {}

  /** The fencing token of the first resource (for single-resource locks), or undefined without fencing. */
  get fencingToken(): number | undefined {
    return this.fencingTokens[0];
  }

  /** Milliseconds of validity left (0 when expired). */
  remaining(): number {
    return Math.max(0, this.validUntil - this.owner.now());
  }

  /** Whether the validity has run out. True after `release()` too (a released lock is valid no longer); `released` tells the two apart. */
  get expired(): boolean {
    return this.remaining() === 0;
  }

  /** Whether `release()` has been called. */
  get released(): boolean {
    return this.releasing !== undefined;
  }

  /**
   * Extends the lock to `ttl` ms from now on a majority of instances.
   * @throws LockLostError when it was released, had expired or a majority no longer holds it.
   */
  extend(ttl: number): Promise<void> {
    return this.owner.extend(this, ttl);
  }

  /**
   * Releases the lock on every instance; resolves with what it found, never rejects for an expired lock.
   * Idempotent: later calls (an explicit release, then `await using`'s) resolve with the first one's result.
   */
  release(): Promise<ReleaseResult> {
    this.releasing ??= this.owner.release(this);
    return this.releasing;
  }

  /** Releases, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
