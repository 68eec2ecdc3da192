/** Waiting for a condition in tests that run against real servers, where nothing can be awaited directly. */

/**
 * Resolves once `predicate` holds, checking every `intervalMs` (default 5); rejects after `ms` with a message
 * that names `what` was awaited.
 */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, ms: number, intervalMs = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
