import { XError } from '@x/core';

/** Thrown by `setTimeout`/`setInterval` when the wheel already holds `maxPending` timers. */
export class TooManyTimersError extends XError<'ERR_TOO_MANY_TIMERS'> {
  constructor(readonly maxPending: number) {
    super('ERR_TOO_MANY_TIMERS', `the wheel already holds its maximum of ${maxPending} pending timers`);
  }
}
