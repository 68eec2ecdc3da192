/**
 * Errors of @platformatic/kafka's protocol calls, told apart by the broker's error name. A failed request comes
 * as a ResponseError (an AggregateError) holding one ProtocolError per failed part, each naming the broker's
 * error in `apiId` ('STALE_MEMBER_EPOCH', 'NOT_COORDINATOR', ...).
 */
import { errorTree } from '../error-tree.js';

/** The broker error names found in `error` (itself, its `errors` and its `cause`), in the order found. */
export function brokerErrorIds(error: unknown): Set<string> {
  const ids = new Set<string>();
  for (const inner of errorTree(error, 4)) {
    const { apiId } = inner as { apiId?: unknown };
    if (typeof apiId === 'string') ids.add(apiId);
  }
  return ids;
}

/** Whether `error` holds any of the broker errors `names`. */
export function hasBrokerError(error: unknown, ...names: string[]): boolean {
  const ids = brokerErrorIds(error);
  return names.some((name) => ids.has(name));
}

/**
 * A failed group request, carrying the broker's error name as `type` (as kafkajs's errors do), so that the
 * consumer tells a commit that only met a rebalance from other failures the same way on either client.
 */
export class GroupRequestError extends Error {
  override readonly name = 'GroupRequestError';
  constructor(
    readonly type: string,
    what: string,
    cause: unknown,
  ) {
    super(`${what} failed: ${type}`, { cause });
  }
}

/** `error` as a GroupRequestError named by its first broker error, or as it is when it has none. */
export function asGroupRequestError(error: unknown, what: string): unknown {
  const [first] = brokerErrorIds(error);
  return first === undefined ? error : new GroupRequestError(first, what, error);
}
