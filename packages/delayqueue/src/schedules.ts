/**
 * Recurring jobs as the queue sees them: what `schedule` checks and stores, the job each tick adds, and the step
 * from one tick to the next. A schedule always has exactly one tick's job stored ahead of time, so a tick is
 * delivered like any delayed job (on time, by the backend's mover) and stepping on only has to happen before the
 * following tick.
 */
import { InvalidArgumentError, assertKnownKeys, assertNumber, assertOneOf, assertString } from '@x/core';
import { type NewJob, type ScheduleStep, type StoredSchedule, tickJobId } from './backend.js';
import { CorruptJobError } from './errors.js';
import type { AddOptions } from './job.js';
import { type JobDefaults, MAX_DELAY_MS, assertName, buildJob } from './new-job.js';
import { type ScheduleRule, type StoredRule, checkRule, publicRule, tickAfter } from './schedule-rule.js';

/** Longest schedule name: its tick jobs' ids add the tick's 25-character time and must stay within 256. */
export const MAX_SCHEDULE_NAME = 200;
/**
 * Least `missedAfterMs`: a tick is stepped, moved and reserved within milliseconds when workers run, but not within
 * none; below a second, ticks of running workers would count as missed.
 */
export const MIN_MISSED_AFTER_MS = 1_000;
/**
 * How long ago a tick may have passed when its schedule is stepped and still be added (late): a step a busy
 * worker makes a little late (measured: up to 144 ms of a 50 ms schedule with four processes on two loaded
 * cores) must not lose ticks. Ticks older than this fell while no worker ran and are not made up.
 */
export const CATCH_UP_MS = 1_000;

/** What happens to a tick that no worker stepped past in time (every worker of its topic was down). */
export type MissedTicks = 'run-once' | 'skip';

/** Options of `queue.schedule`: the job each tick adds, and what to do with ticks missed while no worker ran. */
export interface ScheduleOptions extends Pick<AddOptions, 'ttr' | 'attempts' | 'backoff'> {
  /**
   * While no worker of the topic runs, only the tick already stored waits; the ticks after it are never added,
   * and the schedule goes on from the first tick of the last second before the workers are back. `'run-once'` (the default) delivers
   * that stored tick when they are back, however late; `'skip'` deletes it instead when it is more than
   * `missedAfterMs` late.
   */
  missed?: MissedTicks;
  /** How late a stored tick may be and still run under `missed: 'skip'`, ms (at least 1,000). Default 60,000. */
  missedAfterMs?: number;
}

/** A schedule as `queue.schedules()` reports it. */
export interface ScheduleInfo<T = unknown> {
  readonly name: string;
  readonly topic: string;
  readonly rule: ScheduleRule;
  readonly payload: T;
  /** The next tick (epoch ms): its job is stored, with id `nextJobId`. */
  readonly next: number;
  readonly nextJobId: string;
  readonly missed: MissedTicks;
  readonly missedAfterMs: number;
}

/** What a backend stores for a schedule besides its name, topic and next tick. */
interface Definition {
  readonly rule: StoredRule;
  /** The job every tick adds, with the queue's defaults applied at `schedule` time. */
  readonly job: Pick<NewJob, 'payload' | 'maxAttempts' | 'ttr' | 'backoff'>;
  readonly missed: MissedTicks;
  readonly missedAfterMs: number;
}

/** A checked `schedule` call: what to store, and its first tick's job. */
export interface PlannedSchedule {
  readonly definition: string;
  readonly first: NewJob;
}

const OPTION_KEYS = ['ttr', 'attempts', 'backoff', 'missed', 'missedAfterMs'];

/** Checks a `schedule` call against `now` (epoch ms); throws a typed error, before anything is written, for anything bad. */
export function planSchedule(
  topic: string,
  name: unknown,
  rule: unknown,
  payload: unknown,
  options: ScheduleOptions,
  defaults: JobDefaults,
  maxPayloadBytes: number,
  now: number,
): PlannedSchedule {
  assertString('name', name, MAX_SCHEDULE_NAME);
  assertName('name', name);
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
  assertKnownKeys('options', options, OPTION_KEYS);
  const missed = assertOneOf('options.missed', options.missed ?? 'run-once', ['run-once', 'skip'] as const);
  const missedAfterMs = assertNumber('options.missedAfterMs', options.missedAfterMs ?? 60_000, { min: MIN_MISSED_AFTER_MS, max: MAX_DELAY_MS, integer: true });
  const stored = checkRule(rule, now);
  const { ttr, attempts, backoff } = options;
  const template = buildJob(topic, payload, { ttr, attempts, backoff }, defaults, maxPayloadBytes, now);
  const definition: Definition = {
    rule: stored,
    job: { payload: template.payload, maxAttempts: template.maxAttempts, ttr: template.ttr, backoff: template.backoff },
    missed,
    missedAfterMs,
  };
  const tick = tickAfter(stored, now);
  if (tick === undefined || tick - now > MAX_DELAY_MS) throw new InvalidArgumentError('rule', JSON.stringify(rule), 'a rule with a tick in the next 100 years');
  return { definition: JSON.stringify(definition), first: tickJob(name as string, topic, definition, tick) };
}

/**
 * The step for a schedule whose stored tick is due at `now` (backend clock). The next tick is the rule's first
 * after the stored one, even if it has passed too, as long as it passed less than CATCH_UP_MS ago: busy workers
 * stepping late lose no tick. Older ones fell while no worker ran and are not made up: the next is then the
 * first of the last CATCH_UP_MS. A stored tick more than `missedAfterMs` late goes under `'skip'`.
 */
export function stepOf(schedule: StoredSchedule, now: number): ScheduleStep & { readonly skippedTicks: boolean } {
  const definition = parseDefinition(schedule.definition);
  let next = tickAfter(definition.rule, schedule.next);
  const skippedTicks = next !== undefined && next <= now - CATCH_UP_MS;
  if (skippedTicks) next = tickAfter(definition.rule, now - CATCH_UP_MS);
  return {
    name: schedule.name,
    from: schedule.next,
    job: next === undefined ? undefined : tickJob(schedule.name, schedule.topic, definition, next),
    dropFrom: definition.missed === 'skip' && now - schedule.next > definition.missedAfterMs,
    skippedTicks,
  };
}

/** The missed-tick policy of a stored schedule. */
export function missedPolicy(schedule: StoredSchedule): { missed: MissedTicks; missedAfterMs: number } {
  const { missed, missedAfterMs } = parseDefinition(schedule.definition);
  return { missed, missedAfterMs };
}

/**
 * Whether `stored` already is what `planned` asks for, on `topic` (an interval's grid origin aside): then
 * scheduling it again changes nothing, and an application that schedules at every start keeps its stored tick
 * and its grid across restarts.
 */
export function sameSchedule(stored: StoredSchedule, topic: string, planned: PlannedSchedule): boolean {
  if (stored.topic !== topic) return false;
  const a = parseDefinition(stored.definition);
  const b = parseDefinition(planned.definition);
  const rule = (r: StoredRule): string => ('everyMs' in r ? `every ${r.everyMs}` : `cron ${r.cron} ${r.tz}`);
  return rule(a.rule) === rule(b.rule) && JSON.stringify({ ...a, rule: 0 }) === JSON.stringify({ ...b, rule: 0 });
}

/** A stored schedule as users see it. */
export function scheduleInfo<T>(schedule: StoredSchedule): ScheduleInfo<T> {
  const definition = parseDefinition(schedule.definition);
  return {
    name: schedule.name,
    topic: schedule.topic,
    rule: publicRule(definition.rule),
    payload: JSON.parse(definition.job.payload) as T,
    next: schedule.next,
    nextJobId: tickJobId(schedule.name, schedule.next),
    missed: definition.missed,
    missedAfterMs: definition.missedAfterMs,
  };
}

function tickJob(name: string, topic: string, definition: Definition, tick: number): NewJob {
  return { id: tickJobId(name, tick), idGenerated: false, topic, delay: 0, runAt: tick, ...definition.job };
}

function parseDefinition(text: string): Definition {
  try {
    return JSON.parse(text) as Definition;
  } catch {
    throw new CorruptJobError(`corrupt schedule definition: ${JSON.stringify(text.slice(0, 80))}`);
  }
}
