import * as core from '@x/core';
import { ClosedError, InvalidArgumentError, Redlock, TimeoutError, XError, isXError } from '../src/index.js';

it('re-exports the errors it throws: the same classes as @x/core, so instanceof works without installing it', () => {
  expect([XError, isXError, InvalidArgumentError, ClosedError, TimeoutError]).toEqual([core.XError, core.isXError, core.InvalidArgumentError, core.ClosedError, core.TimeoutError]);
  expect(() => new Redlock([])).toThrow(InvalidArgumentError);
});
