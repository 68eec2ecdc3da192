/**
 * How the consumer tells a group rebalance from other failures. kafkajs wraps the broker's answer once its own
 * retries give up (KafkaJSNonRetriableError with the protocol error as `cause`), so the cause chain is followed.
 */

/** Failures of a commit that only met a rebalance: not worth an 'error' event (the next owner commits again). */
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR']);
/** Answers that say this member must rejoin: the group is rebalancing, its generation moved on, or it was removed. */
const REJOIN_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

export function isRebalanceError(error: unknown): boolean {
  return causeOfType(error, REBALANCE_TYPES) !== undefined;
}

/**
 * The error in `error`'s cause chain that says the member must rejoin, or undefined. Thrown from `eachBatch`, it
 * makes kafkajs rejoin at once: kafkajs reads the type of the error itself, not of its causes.
 */
export function rebalanceCause(error: unknown): unknown {
  return causeOfType(error, REJOIN_TYPES);
}

function causeOfType(error: unknown, types: ReadonlySet<string>): unknown {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    if (typeof type === 'string' && types.has(type)) return current;
    current = cause;
  }
  return undefined;
}
