import * as core from '@x/core';
import { CloseTimeoutError, ClosedError, DelayQueue, InvalidArgumentError, TimeoutError, XError, isXError } from '../src/index.js';

it('re-exports the errors it throws: the same classes as @x/core, so instanceof works without installing it', () => {
  expect([XError, isXError, InvalidArgumentError, ClosedError, TimeoutError, CloseTimeoutError]).toEqual([
    core.XError,
    core.isXError,
    core.InvalidArgumentError,
    core.ClosedError,
    core.TimeoutError,
    core.CloseTimeoutError,
  ]);
  expect(() => new DelayQueue({ backend: {} as never })).toThrow(InvalidArgumentError);
});
