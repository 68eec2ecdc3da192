/**
 * The other half of `missed: 'skip'`: a stale tick a worker took before any schedule step could delete it (its
 * process was stopped, or its event loop blocked, while the tick fell due) is acknowledged unrun at delivery.
 * Only a first delivery more than a second after its tick is looked into, so ticks on time cost nothing.
 */
import { type Backend, type Delivery, tickJobId } from './backend.js';
import { MIN_MISSED_AFTER_MS, missedPolicy } from './schedules.js';

/** The schedule and tick a delivery is the job of, when its id is a tick job's id. */
export function tickOf(id: string): { name: string; tick: number } | undefined {
  const at = id.lastIndexOf('@');
  if (at <= 0) return undefined;
  const name = id.slice(0, at);
  const tick = Date.parse(id.slice(at + 1));
  // A user's own id that only looks like one does not print back the same.
  return Number.isFinite(tick) && tickJobId(name, tick) === id ? { name, tick } : undefined;
}

/** True when `delivery` is the first delivery of a tick of a `missed: 'skip'` schedule, reserved more than its `missedAfterMs` after the tick. */
export async function isStaleTick(backend: Backend, delivery: Delivery): Promise<boolean> {
  if (delivery.attempt !== 1 || backend.scheduleOf === undefined) return false;
  const tick = tickOf(delivery.id);
  if (tick === undefined) return false;
  const late = delivery.dueAt + delivery.lateness - tick.tick;
  if (late <= MIN_MISSED_AFTER_MS) return false;
  const schedule = await backend.scheduleOf(tick.name);
  if (schedule === undefined || schedule.topic !== delivery.topic) return false;
  const policy = missedPolicy(schedule);
  return policy.missed === 'skip' && late > policy.missedAfterMs;
}
