import * as core from '@x/core';
import { ClosedError, HashedWheel, InvalidArgumentError, ManualClock, XError, isXError, systemClock } from '../src/index.js';

it('re-exports the errors it throws and the clocks it takes: the same classes as @x/core, so instanceof works', () => {
  expect([XError, isXError, InvalidArgumentError, ClosedError, ManualClock, systemClock]).toEqual([core.XError, core.isXError, core.InvalidArgumentError, core.ClosedError, core.ManualClock, core.systemClock]);
  let thrown: unknown;
  try {
    new HashedWheel({ tickMs: -1 });
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidArgumentError);
  expect(isXError(thrown, 'ERR_INVALID_ARGUMENT')).toBe(true);
});
