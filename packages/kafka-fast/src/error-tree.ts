/**
 * Walks what a client's error holds: clients wrap the broker's answer (kafkajs in `cause` once its retries give
 * up; @platformatic/kafka in aggregates whose `errors` hold one error per failed part, and in `cause`).
 */

/**
 * `error`, then the errors it aggregates (`errors`), then its `cause`, each in turn the same way, depth first;
 * down to `maxDepth` levels below `error`. Only objects are yielded.
 */
export function* errorTree(error: unknown, maxDepth: number, depth = 0): Generator<object> {
  if (error === null || typeof error !== 'object' || depth > maxDepth) return;
  yield error;
  const { errors, cause } = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(errors)) for (const inner of errors) yield* errorTree(inner, maxDepth, depth + 1);
  yield* errorTree(cause, maxDepth, depth + 1);
}
