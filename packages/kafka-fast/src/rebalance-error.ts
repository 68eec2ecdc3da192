/**
 * How the consumer tells a group rebalance from other failures. kafkajs wraps the broker's answer once its own
 * retries give up (KafkaJSNonRetriableError with the protocol error as `cause`), so the cause chain is followed.
 */

/**
 * Failures of a commit that only met a rebalance: not worth an 'error' event (the next owner commits again). The
 * last two are Kafka 4's consumer protocol's (the member's epoch moved on, or it was fenced).
 */
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR', 'STALE_MEMBER_EPOCH', 'FENCED_MEMBER_EPOCH']);
/** Answers that say this member must rejoin: the group is rebalancing, its generation moved on, or it was removed. */
const REJOIN_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

export function isRebalanceError(error: unknown): boolean {
  return causeWithType(error, (type) => REBALANCE_TYPES.has(type)) !== undefined;
}

/**
 * The error in `error`'s cause chain that says the member must rejoin, or undefined. Thrown from `eachBatch`, it
 * makes kafkajs rejoin at once: kafkajs reads the type of the error itself, not of its causes.
 */
export function rebalanceCause(error: unknown): unknown {
  return causeWithType(error, (type) => REJOIN_TYPES.has(type));
}

/** The first error in `error`'s cause chain (itself included) whose kafkajs `type` passes `test`, or undefined. */
export function causeWithType(error: unknown, test: (type: string) => boolean): { type: string } | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    if (typeof type === 'string' && test(type)) return current as { type: string };
    current = cause;
  }
  return undefined;
}
