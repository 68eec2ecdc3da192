/**
 * Whether a failed commit only met a group rebalance: the next owner (or this consumer, once it rejoined)
 * commits again, so it is not worth an 'error' event. kafkajs wraps the broker's answer once its own retries
 * give up (KafkaJSNonRetriableError with the protocol error as `cause`), so the cause chain is followed.
 */
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR']);

export function isRebalanceError(error: unknown): boolean {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    if (typeof type === 'string' && REBALANCE_TYPES.has(type)) return true;
    current = cause;
  }
  return false;
}
