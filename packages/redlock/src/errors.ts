import { XError } from '@x/core';

/** Why one Redis instance did not grant (or confirm) a lock operation. */
export type InstanceFailureReason =
  /** No answer within `requestTimeout`. */
  | 'timeout'
  /** The connection is down (refused, closed, reconnecting). */
  | 'unavailable'
  /** Redis refused keys of several hash slots in one command (a multi-resource lock on a Cluster). */
  | 'crossslot'
  /** The instance restarted less than one maximum TTL ago and may have lost keys: its vote does not count yet. */
  | 'restarting'
  /**
   * The instance's clock ran faster than the drift factor allows (or jumped ahead) in the last window watched:
   * it would expire the lock early, so its vote does not count until its clock keeps time again.
   */
  | 'clock'
  /** The resource is held by another owner on this instance. */
  | 'held'
  /** Any other error; see `message`. */
  | 'error';

/** One instance's failure, as reported in {@link QuorumError} and {@link LockNotAcquiredError}. */
export interface InstanceFailure {
  /** The instance, as `host:port` (or its index when unknown). */
  instance: string;
  reason: InstanceFailureReason;
  message: string;
}

/** The resource is held by another owner on a majority of instances. */
export class LockHeldError extends XError<'ERR_LOCK_HELD'> {
  constructor(readonly resources: readonly string[], readonly failures: readonly InstanceFailure[]) {
    super('ERR_LOCK_HELD', `${resources.join(', ')} is held by another owner`);
  }
}

/** Too few instances granted for a majority (they failed, or the validity ran out), whatever the lock's state. */
export class QuorumError extends XError<'ERR_NO_QUORUM'> {
  constructor(
    readonly resources: readonly string[],
    readonly quorum: number,
    readonly granted: number,
    readonly failures: readonly InstanceFailure[],
  ) {
    super(
      'ERR_NO_QUORUM',
      `${granted} of the ${quorum} instances needed granted ${resources.join(', ')}: ` +
        failures.map((f) => (f.instance === 'all' ? f.message : `${f.instance} ${f.reason}`)).join('; '),
    );
  }
}

/** Acquiring gave up: attempts, time or the caller's signal ran out. `cause` is the last attempt's failure. */
export class LockNotAcquiredError extends XError<'ERR_LOCK_NOT_ACQUIRED'> {
  constructor(
    readonly resources: readonly string[],
    readonly attempts: number,
    cause: unknown,
  ) {
    super('ERR_LOCK_NOT_ACQUIRED', `could not lock ${resources.join(', ')} after ${attempts} attempt(s)`, { cause });
  }
}

/** The lock was lost: it expired, or an extension could not reach a majority before it did. */
export class LockLostError extends XError<'ERR_LOCK_LOST'> {
  constructor(readonly resources: readonly string[], detail: string, cause?: unknown) {
    super('ERR_LOCK_LOST', `lock on ${resources.join(', ')} was lost: ${detail}`, { cause });
  }
}
