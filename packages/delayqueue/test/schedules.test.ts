/**
 * Recurring jobs on a manual clock: whole days across the daylight-saving changes of Europe/Berlin and
 * America/New_York pass in milliseconds, and each delivered tick is checked against the wall time it should have.
 */
import { ManualClock } from '@x/core';
import { DelayQueue, type Job, MemoryBackend } from '../src/index.js';
import { type ScheduleRule, checkRule, tickAfter } from '../src/schedule-rule.js';

const HOUR = 3_600_000;

/** The local time of `at` in `tz`, as `YYYY-MM-DD HH:mm:ss (+offset)`: what a person in that zone reads on the wall. */
function local(at: number, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'shortOffset' })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} (${parts.timeZoneName})`;
}

/** Runs a queue on a manual clock from `start` for `hours`, with one schedule; the wall times its ticks were delivered at. */
async function ticksOver(start: string, hours: number, rule: { cron: string; tz: string }): Promise<{ due: string[]; lateness: number[]; ids: string[] }> {
  const clock = new ManualClock({ wallNow: Date.parse(start) });
  const queue = new DelayQueue({ clock, backend: new MemoryBackend({ clock }) });
  const seen: Job[] = [];
  queue.process('t', (job) => {
    seen.push(job);
  });
  await queue.schedule('t', 'rule', rule);
  for (let h = 0; h < hours; h++) await clock.advanceAsync(HOUR);
  await queue.close();
  return { due: seen.map((job) => local(job.dueAt, rule.tz)), lateness: seen.map((job) => job.lateness), ids: seen.map((job) => job.id) };
}

describe('recurring jobs across daylight-saving changes (manual clock, memory backend)', () => {
  it('Europe/Berlin, March: a fixed time in the hour that does not exist runs at 03:00, once; an hourly rule skips the missing hour', async () => {
    const fixed = await ticksOver('2026-03-27T12:00:00Z', 4 * 24, { cron: '30 2 * * *', tz: 'Europe/Berlin' });
    expect(fixed.due).toEqual(['2026-03-28 02:30:00 (GMT+1)', '2026-03-29 03:00:00 (GMT+2)', '2026-03-30 02:30:00 (GMT+2)', '2026-03-31 02:30:00 (GMT+2)']);
    expect(fixed.lateness.every((ms) => ms === 0)).toBe(true);
    expect(new Set(fixed.ids).size).toBe(4);

    const hourly = await ticksOver('2026-03-28T22:30:00Z', 4, { cron: '0 * * * *', tz: 'Europe/Berlin' });
    expect(hourly.due).toEqual(['2026-03-29 00:00:00 (GMT+1)', '2026-03-29 01:00:00 (GMT+1)', '2026-03-29 03:00:00 (GMT+2)', '2026-03-29 04:00:00 (GMT+2)']);
  });

  it('Europe/Berlin, October: a fixed time in the hour that happens twice runs once; a quarter-hourly rule runs in both copies', async () => {
    const fixed = await ticksOver('2026-10-23T12:00:00Z', 4 * 24, { cron: '30 2 * * *', tz: 'Europe/Berlin' });
    expect(fixed.due).toEqual(['2026-10-24 02:30:00 (GMT+2)', '2026-10-25 02:30:00 (GMT+2)', '2026-10-26 02:30:00 (GMT+1)', '2026-10-27 02:30:00 (GMT+1)']);

    const quarterly = await ticksOver('2026-10-24T23:50:00Z', 2, { cron: '*/15 2 * * *', tz: 'Europe/Berlin' });
    expect(quarterly.due).toEqual([
      '2026-10-25 02:00:00 (GMT+2)',
      '2026-10-25 02:15:00 (GMT+2)',
      '2026-10-25 02:30:00 (GMT+2)',
      '2026-10-25 02:45:00 (GMT+2)',
      '2026-10-25 02:00:00 (GMT+1)',
      '2026-10-25 02:15:00 (GMT+1)',
      '2026-10-25 02:30:00 (GMT+1)',
      '2026-10-25 02:45:00 (GMT+1)',
    ]);
    // Eight distinct ticks a quarter of an hour apart: the repeated local times are different instants, so different jobs.
    expect(new Set(quarterly.ids).size).toBe(8);
  });

  it('America/New_York, March: 02:30 does not exist on the change day and runs at 03:00', async () => {
    const fixed = await ticksOver('2026-03-07T12:00:00Z', 3 * 24, { cron: '30 2 * * *', tz: 'America/New_York' });
    expect(fixed.due).toEqual(['2026-03-08 03:00:00 (GMT-4)', '2026-03-09 02:30:00 (GMT-4)', '2026-03-10 02:30:00 (GMT-4)']);
  });

  it('America/New_York, November: 01:30 happens twice and runs once; an hourly rule runs both 01:00s', async () => {
    const fixed = await ticksOver('2026-10-31T12:00:00Z', 3 * 24, { cron: '30 1 * * *', tz: 'America/New_York' });
    expect(fixed.due).toEqual(['2026-11-01 01:30:00 (GMT-4)', '2026-11-02 01:30:00 (GMT-5)', '2026-11-03 01:30:00 (GMT-5)']);

    const hourly = await ticksOver('2026-11-01T03:30:00Z', 4, { cron: '0 * * * *', tz: 'America/New_York' });
    expect(hourly.due).toEqual(['2026-11-01 00:00:00 (GMT-4)', '2026-11-01 01:00:00 (GMT-4)', '2026-11-01 01:00:00 (GMT-5)', '2026-11-01 02:00:00 (GMT-5)']);
  });

  it('a rule is a cron pattern or an interval, never both (to the type checker too); a zone is stored as given', () => {
    // @ts-expect-error a cron pattern and an interval at once
    const both: ScheduleRule = { cron: '* * * * *', everyMs: 1_000 };
    // @ts-expect-error an interval has no time zone
    const zoned: ScheduleRule = { everyMs: 1_000, tz: 'UTC' };
    for (const rule of [both, zoned]) expect(() => checkRule(rule, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(checkRule({ cron: '0 2 * * *', tz: 'Asia/Kolkata' }, 0)).toEqual({ cron: '0 2 * * *', tz: 'Asia/Kolkata' });
  });

  it('a rule without a zone means UTC, whatever the machine’s TZ', () => {
    const rule = checkRule({ cron: '0 2 * * *' }, Date.parse('2026-06-01T00:00:00Z'));
    expect(rule).toEqual({ cron: '0 2 * * *', tz: 'UTC' });
    expect(new Date(tickAfter(rule, Date.parse('2026-06-01T00:00:00Z'))!).toISOString()).toBe('2026-06-01T02:00:00.000Z');
  });

  it('an interval keeps the grid it started on, across a restart: ticks at start + k * everyMs, the first strictly after any instant', () => {
    const rule = checkRule({ everyMs: 250 }, 1_001.4);
    expect(() => checkRule({ everyMs: 49 }, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(rule).toEqual({ everyMs: 250, from: 1_001 });
    // The first tick after the instant it was made is a whole interval later.
    expect(tickAfter(rule, 1_001.4)).toBe(1_251);
    expect(tickAfter(rule, 0)).toBe(1_001);
    expect(tickAfter(rule, 1_250)).toBe(1_251);
    expect(tickAfter(rule, 1_000_000)).toBe(1_000_001);
    expect(tickAfter(rule, 1_000_001)).toBe(1_000_251);
  });
});
