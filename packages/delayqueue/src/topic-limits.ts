/** Checks the limits a caller gives `queue.setLimits`, and fills in their defaults. */
import { InvalidArgumentError, assertKnownKeys, assertNumber } from '@x/core';
import type { TopicLimits } from './backend.js';

/** Largest rate, interval and concurrency taken: far beyond any real limit, and within what Lua and Redis count exactly. */
const MAX_LIMIT = 2 ** 31 - 1;

export function checkLimits(limits: unknown): TopicLimits {
  if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError('limits', limits, 'an object ({} removes the limits)');
  assertKnownKeys('limits', limits, ['rate', 'intervalMs', 'concurrency']);
  // Own properties only: an object whose prototype carries a `rate` is `{}` to assertKnownKeys.
  const own = (key: keyof TopicLimits): unknown => (Object.hasOwn(limits, key) ? (limits as TopicLimits)[key] : undefined);
  const [rate, intervalMs, concurrency] = [own('rate'), own('intervalMs'), own('concurrency')];
  const whole = { min: 1, max: MAX_LIMIT, integer: true };
  if (rate === undefined && intervalMs !== undefined) throw new InvalidArgumentError('limits.intervalMs', intervalMs, 'given with limits.rate');
  return {
    ...(rate === undefined ? {} : { rate: assertNumber('limits.rate', rate, whole), intervalMs: assertNumber('limits.intervalMs', intervalMs ?? 1_000, whole) }),
    ...(concurrency === undefined ? {} : { concurrency: assertNumber('limits.concurrency', concurrency, whole) }),
  };
}
