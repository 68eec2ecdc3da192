/**
 * When a recurring job's ticks fall: a cron pattern in a time zone, or a fixed interval. Only pure arithmetic on
 * epoch ms lives here, so the same rule gives the same ticks in every process and after every restart.
 *
 * Cron patterns are evaluated by croner, chosen for its daylight-saving rules: a fixed-time pattern (`30 2 * * *`)
 * whose time falls in a gap runs at the first instant after it, and once when its time happens twice; an
 * interval pattern (`*\/15 * * * *`, `0 * * * *`) skips the instants that do not exist and runs in both copies
 * of a repeated hour, since each is a real quarter or hour. That is what Vixie cron does, on the zone's rules
 * from the runtime's own time-zone data (Intl), with no dependency of its own.
 */
import { InvalidArgumentError, assertKnownKeys, assertNumber, assertString } from '@x/core';
import { Cron } from 'croner';
import { MAX_DELAY_MS } from './new-job.js';

/** When a schedule's ticks fall: a cron pattern (5 fields, or 6 with seconds first) in a time zone, or a fixed interval. */
export type ScheduleRule = { readonly cron: string; readonly tz?: string; readonly everyMs?: never } | { readonly everyMs: number; readonly cron?: never; readonly tz?: never };

/**
 * Shortest interval: each tick is stored when the one before falls due, which takes a round trip and a script;
 * at a few ms some ticks would come due before they were stored (measured: 1-3% of them at 5 ms).
 */
export const MIN_EVERY_MS = 50;

/** A checked rule, with what it needs to give the same ticks everywhere (an interval's first tick). */
export type StoredRule = { readonly cron: string; readonly tz: string } | { readonly everyMs: number; readonly from: number };

const MAX_PATTERN_LENGTH = 256;

/**
 * Checks a rule and fixes what it depends on: a cron rule's zone (default UTC, so a pattern means the same on
 * every machine whatever its TZ), an interval's grid (ticks at `now + k * everyMs`, so a restart keeps them).
 */
export function checkRule(value: unknown, now: number): StoredRule {
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError('rule', value, 'an object: { cron, tz } or { everyMs }');
  if ('everyMs' in value) {
    assertKnownKeys('rule', value, ['everyMs']);
    const everyMs = assertNumber('rule.everyMs', (value as { everyMs: unknown }).everyMs, { min: MIN_EVERY_MS, max: MAX_DELAY_MS, integer: true });
    // The grid's origin is now itself (whole ms, not after it): the first tick is a whole interval away.
    return { everyMs, from: Math.floor(now) };
  }
  assertKnownKeys('rule', value, ['cron', 'tz']);
  const { cron, tz } = value as { cron: unknown; tz?: unknown };
  assertString('rule.cron', cron, MAX_PATTERN_LENGTH);
  const zone = tz === undefined ? 'UTC' : assertString('rule.tz', tz, 64);
  try {
    // Stored as given: the runtime's own name may be an older one (Asia/Kolkata resolves to Asia/Calcutta).
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new InvalidArgumentError('rule.tz', tz, 'an IANA time zone known to this runtime (e.g. Europe/Berlin), or a fixed offset (+02:00)');
  }
  try {
    patternOf({ cron: cron as string, tz: zone });
  } catch (error) {
    throw new InvalidArgumentError('rule.cron', cron, `a cron pattern of 5 fields, or 6 with seconds first (${(error as Error).message})`);
  }
  return { cron: cron as string, tz: zone };
}

/** The first tick strictly after `at` (epoch ms), or undefined when the rule has no more (a date that never comes). */
export function tickAfter(rule: StoredRule, at: number): number | undefined {
  if ('everyMs' in rule) {
    if (at < rule.from) return rule.from;
    return rule.from + (Math.floor((at - rule.from) / rule.everyMs) + 1) * rule.everyMs;
  }
  // croner answers the first run strictly after the Date it is given, null when the pattern has none (Feb 30).
  return patternOf(rule).nextRun(new Date(at))?.getTime();
}

/** A parsed pattern per rule text: parsing costs far more than stepping, and a driver steps thousands a second. */
const patterns = new Map<string, Cron>();

function patternOf(rule: { cron: string; tz: string }): Cron {
  const key = `${rule.tz} ${rule.cron}`;
  let pattern = patterns.get(key);
  if (pattern === undefined) {
    pattern = new Cron(rule.cron, { timezone: rule.tz, paused: true, mode: '5-or-6-parts' });
    if (patterns.size >= 1024) patterns.clear();
    patterns.set(key, pattern);
  }
  return pattern;
}

/** The rule as users gave it (an interval's grid origin stays internal). */
export function publicRule(rule: StoredRule): ScheduleRule {
  return 'everyMs' in rule ? { everyMs: rule.everyMs } : { cron: rule.cron, tz: rule.tz };
}
