/**
 * One round of Redlock: the same request to every instance at once, settled as soon as its outcome is known.
 */
import type { Instance, InstanceResult } from './instance.js';

/**
 * Sends `ask` to every instance at once and resolves, in instance order, as soon as `needed` answers counted
 * by `counts` are in (the others can no longer change the outcome, so they are not waited for: a straggling
 * instance costs nothing on the success path), or every instance answered, or `timeoutMs` passed. Instances
 * not heard from by then are reported as timeouts (as unavailable where their connection is down). Never rejects.
 */
export function gather<T>(
  instances: readonly Instance[],
  ask: (instance: Instance) => Promise<InstanceResult<T>>,
  needed: number,
  counts: (result: InstanceResult<T>) => boolean,
  timeoutMs: number,
): Promise<InstanceResult<T>[]> {
  // Nothing to ask (a failed attempt that holds nothing anywhere): no answer will ever come to settle on.
  if (instances.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    // Filled, not sparse: map() skips the holes of a sparse array, which would drop the silent instances.
    const results: (InstanceResult<T> | undefined)[] = instances.map(() => undefined);
    let answered = 0;
    let counted = 0;
    let settled = false;
    const settle = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(results.map((result, i) => result ?? instances[i]!.unanswered(why)));
    };
    const timer = setTimeout(() => settle(`no answer within ${timeoutMs} ms`), timeoutMs);
    instances.forEach((instance, i) => {
      void ask(instance).then((result) => {
        if (settled) return;
        results[i] = result;
        answered++;
        if (counts(result)) counted++;
        if (counted >= needed) settle('not waited for: a majority had already decided');
        else if (answered === instances.length) settle('');
      });
    });
  });
}
